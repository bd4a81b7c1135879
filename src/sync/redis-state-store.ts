// Sync state in Redis, shared by every replica of one migration. All keys sit under the
// migration's prefix, whose hash tag keeps them in one Cluster slot (so the lease scripts may
// touch two keys). The connection has no offline queue: while Redis is away every call rejects
// at once with an error naming the operation, and the sync loop pauses instead of piling up work.
// Only onApplied waits it out: a subscription starts whenever Redis is back.
import { setTimeout as delay } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Logger } from '../telemetry/logger.ts'
import { RedisCutoverStore } from '../cutover/redis-store.ts'
import { RedisAuditLog } from '../state/redis-audit-log.ts'
import { AUDIT_LOG_LIMIT } from '../state/audit-log.ts'
import {
  CHANGE_STREAM_LIMIT, CONFLICT_LOG_LIMIT,
  type ChangeEvent, type ConflictEntry, type Lease, type StateStore, type StateStoreBounds, type SyncKey,
} from './state-store.ts'

/** How long onApplied waits for its subscription while Redis is up. */
const SUBSCRIBE_WAIT_MS = 2000

// KEYS[1] lease (holds the owner, expires), KEYS[2] fencing counter (never expires).
// ARGV[1] owner, ARGV[2] ttl ms. Returns the token, or false while another owner holds it.
const ACQUIRE_LEASE = `
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
const HOLDS_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
return 0
`

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * The StateStore of a migration in Redis. Owns `redis` (made with `connectRedis`) and closes
 * it on close(). Keys: hashes `sync:cursors`, `sync:applied`, `sync:tombstones`; the stream
 * `sync:changes` (offsets are stream ids; trimmed with MAXLEN ~, which drops whole stream nodes,
 * so it may hold up to stream-node-max-entries, 100 by default, more than the bound); the lists `sync:conflicts` and `audit`; `sync:lease` + `sync:lease-token`; `sync:status` (expires);
 * the pub/sub channel `sync:applied-events`.
 *
 * @example
 * const redis = connectRedis(process.env.REDIS_URL, log)
 * const store = new RedisStateStore(redis, keyPrefix('alerting'), log)
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'redis'
  readonly cutover: RedisCutoverStore
  readonly audit: RedisAuditLog
  #redis: Redis
  #log: Logger
  #keys: ReturnType<typeof keysUnder>
  #changeStreamLimit: number
  #conflictLogLimit: number
  #subscribers = new Set<Redis>()

  constructor(redis: Redis, prefix: string, log: Logger, bounds: StateStoreBounds = {}) {
    this.#redis = redis
    this.#log = log
    this.#keys = keysUnder(prefix)
    this.cutover = new RedisCutoverStore(redis, prefix)
    this.audit = new RedisAuditLog(redis, prefix, bounds.auditLogLimit ?? AUDIT_LOG_LIMIT)
    this.#changeStreamLimit = bounds.changeStreamLimit ?? CHANGE_STREAM_LIMIT
    this.#conflictLogLimit = bounds.conflictLogLimit ?? CONFLICT_LOG_LIMIT
  }

  getCursor(scope: string): Promise<string | undefined> {
    return this.#call('read a cursor', async () => (await this.#redis.hget(this.#keys.cursors, scope)) ?? undefined)
  }

  setCursor(scope: string, cursor: string | undefined): Promise<void> {
    return this.#call('write a cursor', () => this.#setFields(this.#keys.cursors, [[scope, cursor]]))
  }

  getApplied(keys: SyncKey[]): Promise<Map<SyncKey, string>> {
    return this.#call('read applied hashes', () => this.#getFields(this.#keys.applied, keys, String))
  }

  setApplied(entries: Array<[SyncKey, string | undefined]>): Promise<void> {
    return this.#call('write applied hashes', () => this.#setFields(this.#keys.applied, entries))
  }

  getTombstones(keys: SyncKey[]): Promise<Map<SyncKey, number>> {
    return this.#call('read tombstones', () => this.#getFields(this.#keys.tombstones, keys, Number))
  }

  setTombstones(entries: Array<[SyncKey, number | undefined]>): Promise<void> {
    return this.#call('write tombstones', () => this.#setFields(this.#keys.tombstones, entries))
  }

  appendChange(change: Omit<ChangeEvent, 'offset'>): Promise<void> {
    const fields = ['type', change.resourceType, 'tenant', change.tenant, 'at', String(change.at)]
    if (change.id !== undefined) fields.push('id', change.id)
    return this.#call('append a change', async () => {
      await this.#redis.xadd(this.#keys.changes, 'MAXLEN', '~', this.#changeStreamLimit, '*', ...fields)
    })
  }

  readChanges(offset: string, count: number): Promise<ChangeEvent[]> {
    const start = offset === '0' ? '-' : `(${offset}`
    return this.#call('read changes', async () => {
      const entries = await this.#redis.xrange(this.#keys.changes, start, '+', 'COUNT', count)
      return entries.map(([id, flat]) => toChange(id, flat))
    })
  }

  changesSince(at: number, count: number): Promise<ChangeEvent[]> {
    // Stream ids start with Redis's clock at the append, a moment after the proxy's `at`.
    return this.#call('read recent changes', async () => {
      const entries = await this.#redis.xrange(this.#keys.changes, `${Math.max(0, Math.floor(at))}-0`, '+', 'COUNT', count)
      return entries.map(([id, flat]) => toChange(id, flat)).filter(c => c.at >= at)
    })
  }

  getOffset(): Promise<string> {
    return this.#call('read the change offset', async () => (await this.#redis.get(this.#keys.offset)) ?? '0')
  }

  setOffset(offset: string): Promise<void> {
    return this.#call('write the change offset', async () => {
      await this.#redis.set(this.#keys.offset, offset)
    })
  }

  appendConflict(entry: ConflictEntry): Promise<void> {
    return this.#call('append a conflict', async () => {
      // Sent back to back on one connection: one round trip, applied in order.
      await Promise.all([
        this.#redis.lpush(this.#keys.conflicts, JSON.stringify(entry)),
        this.#redis.ltrim(this.#keys.conflicts, 0, this.#conflictLogLimit - 1),
      ])
    })
  }

  conflicts(limit: number): Promise<ConflictEntry[]> {
    return this.#call('read conflicts', async () => {
      const raw = await this.#redis.lrange(this.#keys.conflicts, 0, limit - 1)
      return raw.map(r => JSON.parse(r) as ConflictEntry)
    })
  }

  acquireLease(owner: string, ttlMs: number): Promise<Lease | undefined> {
    return this.#call('acquire the sync lease', async () => {
      // Measured before asking, so the holder's idea of expiry is never later than Redis's.
      const expiresAt = Date.now() + ttlMs
      const token = await this.#redis.eval(ACQUIRE_LEASE, 2, this.#keys.lease, this.#keys.leaseToken, owner, ttlMs) as number | null
      return token === null ? undefined : { owner, token, expiresAt }
    })
  }

  holdsLease(lease: Lease): Promise<boolean> {
    return this.#call('check the sync lease', async () =>
      await this.#redis.eval(HOLDS_LEASE, 2, this.#keys.lease, this.#keys.leaseToken, lease.owner, lease.token) === 1)
  }

  releaseLease(lease: Lease): Promise<void> {
    return this.#call('release the sync lease', async () => {
      await this.#redis.eval(RELEASE_LEASE, 2, this.#keys.lease, this.#keys.leaseToken, lease.owner, lease.token)
    })
  }

  publishStatus(status: string, ttlMs: number): Promise<void> {
    return this.#call('publish the sync status', async () => {
      await this.#redis.set(this.#keys.status, status, 'PX', ttlMs)
    })
  }

  readStatus(): Promise<string | undefined> {
    return this.#call('read the sync status', async () => (await this.#redis.get(this.#keys.status)) ?? undefined)
  }

  publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void> {
    return this.#call('publish an applied event', async () => {
      await this.#redis.publish(this.#keys.appliedEvents, JSON.stringify([resourceType, tenant, upTo]))
    })
  }

  /**
   * Subscribes on a connection of its own (a subscribed connection can send nothing else). It
   * queues its one SUBSCRIBE until Redis is reachable and subscribes again after every reconnect,
   * so a proxy started while Redis is away hears applied events once it is back.
   */
  async onApplied(listener: (resourceType: string, tenant: string, upTo: number) => void): Promise<() => Promise<void>> {
    const sub = this.#redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null })
    // Once per outage, like connectRedis: reconnect attempts fail every few hundred ms.
    let down = false
    sub.on('error', (err: Error) => {
      if (!down) this.#log.warn({ err: { message: err.message } }, 'redis subscriber for applied events: connection error; retrying')
      down = true
    })
    sub.on('ready', () => { down = false })
    const onMessage = (_channel: string, message: string) => {
      const [resourceType, tenant, upTo] = JSON.parse(message) as [string, string, number]
      listener(resourceType, tenant, upTo)
    }
    sub.on('message', onMessage)
    this.#subscribers.add(sub)
    const subscribed = sub.subscribe(this.#keys.appliedEvents).then(() => undefined, (err: Error) => {
      this.#log.warn({ err: { message: err.message } }, 'no subscription to applied events')
    })
    // With Redis up, callers may publish as soon as this resolves; bounded, in case it just went away.
    if (this.#redis.status === 'ready') await Promise.race([subscribed, delay(SUBSCRIBE_WAIT_MS, undefined, { ref: false })])
    return async () => {
      // Messages already on the wire still arrive while the socket closes; nobody hears them.
      sub.off('message', onMessage)
      this.#subscribers.delete(sub)
      sub.disconnect()
    }
  }

  async close(): Promise<void> {
    for (const sub of this.#subscribers) sub.disconnect()
    this.#subscribers.clear()
    // Not QUIT: it rejects when the connection is already dying. Callers stop using the store first.
    this.#redis.disconnect()
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw unavailable(what, err)
    }
  }

  async #getFields<T>(key: string, fields: SyncKey[], parse: (raw: string) => T): Promise<Map<SyncKey, T>> {
    const found = new Map<SyncKey, T>()
    if (fields.length === 0) return found
    const values = await this.#redis.hmget(key, ...fields)
    fields.forEach((field, i) => {
      const value = values[i]
      if (value != null) found.set(field, parse(value))
    })
    return found
  }

  /** Sets and deletes in one round trip; for a field given twice, the last entry wins. */
  async #setFields(key: string, entries: Array<[string, string | number | undefined]>): Promise<void> {
    const last = new Map(entries)
    const set: Array<string | number> = []
    const remove: string[] = []
    for (const [field, value] of last) {
      if (value === undefined) remove.push(field)
      else set.push(field, value)
    }
    const writes: Array<Promise<unknown>> = []
    if (set.length > 0) writes.push(this.#redis.hset(key, ...set))
    if (remove.length > 0) writes.push(this.#redis.hdel(key, ...remove))
    await Promise.all(writes)
  }
}

function keysUnder(prefix: string) {
  return {
    cursors: `${prefix}sync:cursors`,
    applied: `${prefix}sync:applied`,
    tombstones: `${prefix}sync:tombstones`,
    changes: `${prefix}sync:changes`,
    offset: `${prefix}sync:offset`,
    conflicts: `${prefix}sync:conflicts`,
    lease: `${prefix}sync:lease`,
    leaseToken: `${prefix}sync:lease-token`,
    appliedEvents: `${prefix}sync:applied-events`,
    status: `${prefix}sync:status`,
  }
}

function toChange(offset: string, flat: string[]): ChangeEvent {
  const fields = new Map<string, string>()
  for (let i = 0; i < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!)
  const id = fields.get('id')
  return {
    offset,
    resourceType: fields.get('type')!,
    tenant: fields.get('tenant')!,
    ...(id === undefined ? {} : { id }),
    at: Number(fields.get('at')),
  }
}

function unavailable(what: string, err: unknown): Error {
  return new Error(`sync state in redis: cannot ${what}: ${(err as Error).message}`, { cause: err })
}
