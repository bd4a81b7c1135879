// The single-writer lease in Redis: `sync:lease` (holds the owner, expires) and the fencing
// counter `sync:lease-token` (never expires). Scripts touch both keys in one slot.
import type { Redis } from 'ioredis'
import type { Lease, LeaseStore } from '../lease.ts'
import { inRedis, SYNC_STATE, type SyncKeys } from './call.ts'

// ARGV[1] owner, ARGV[2] ttl ms. Returns the token, or false while another owner holds it.
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
return false
`

// ARGV[1] owner, ARGV[2] token. 1 while that owner holds the lease under that token.
const HOLDS = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
return 0
`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
`

export class RedisLease implements LeaseStore {
  #redis: Redis
  #keys: SyncKeys

  constructor(redis: Redis, keys: SyncKeys) {
    this.#redis = redis
    this.#keys = keys
  }

  acquire(owner: string, ttlMs: number): Promise<Lease | undefined> {
    return inRedis(SYNC_STATE, 'acquire the sync lease', async () => {
      // Measured before asking, so the holder's idea of expiry is never later than Redis's.
      const expiresAt = Date.now() + ttlMs
      const token = await this.#redis.eval(ACQUIRE, 2, this.#keys.lease, this.#keys.leaseToken, owner, ttlMs) as number | null
      return token === null ? undefined : { owner, token, expiresAt }
    })
  }

  holds(lease: Lease): Promise<boolean> {
    return inRedis(SYNC_STATE, 'check the sync lease', async () =>
      await this.#redis.eval(HOLDS, 2, this.#keys.lease, this.#keys.leaseToken, lease.owner, lease.token) === 1)
  }

  release(lease: Lease): Promise<void> {
    return inRedis(SYNC_STATE, 'release the sync lease', async () => {
      await this.#redis.eval(RELEASE, 2, this.#keys.lease, this.#keys.leaseToken, lease.owner, lease.token)
    })
  }
}
