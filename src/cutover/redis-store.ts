// The cutover state in Redis, under the migration's prefix (one Cluster slot). Deadlines are
// checked against Redis's own clock inside the script that switches, so a coordinator that
// stalls past its deadline cannot switch late, whatever the clocks of the pods say.
import type { Redis } from 'ioredis'
import type { Side } from '../policy/schema.ts'
import { initialState, stateIdentity, type ConfirmPhase, type CutoverRequest, type CutoverState } from './state.ts'
import type { CutoverStore } from './store.ts'

/** Confirmations outlive any run; forgotten after this. */
const CONFIRM_TTL_MS = 600_000
/** Replicas silent for this long are dropped from the registry (it stays bounded). */
const FORGET_REPLICA_MS = 3_600_000

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

// KEYS[1] state. ARGV[1] expected identity, ARGV[2] next state, ARGV[3] deadline ('' for none).
const TRANSITION = `${NOW_MS}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local s = cjson.decode(raw)
local id = ''
if type(s.run) == 'table' then id = s.run.id end
if (tostring(s.epoch) .. '|' .. s.phase .. '|' .. id) ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' and now >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`

// KEYS[1] state, KEYS[2] replicas (sorted by last check-in). ARGV[1] replica.
const CHECK_IN = `${NOW_MS}
redis.call('ZADD', KEYS[2], now, ARGV[1])
return redis.call('GET', KEYS[1])
`

// KEYS[1] replicas. ARGV[1] within ms, ARGV[2] forget after ms.
const REPLICAS = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
`

const TIME = `${NOW_MS}
return now
`

export class RedisCutoverStore implements CutoverStore {
  #redis: Redis
  #keys: { state: string, replicas: string, request: string, confirm: string }

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis
    this.#keys = { state: `${prefix}cutover:state`, replicas: `${prefix}cutover:replicas`, request: `${prefix}cutover:request`, confirm: `${prefix}cutover:confirm:` }
  }

  async read(): Promise<CutoverState | undefined> {
    return parse(await this.#call('read the cutover state', () => this.#redis.get(this.#keys.state)))
  }

  async initialize(authority: Side): Promise<CutoverState> {
    await this.#call('initialize the cutover state', () => this.#redis.set(this.#keys.state, JSON.stringify(initialState(authority)), 'NX'))
    return (await this.read())!
  }

  async checkIn(replica: string): Promise<CutoverState | undefined> {
    return parse(await this.#call('check in', () => this.#redis.eval(CHECK_IN, 2, this.#keys.state, this.#keys.replicas, replica) as Promise<string | null>))
  }

  async leave(replica: string): Promise<void> {
    await this.#call('leave the replica registry', () => this.#redis.zrem(this.#keys.replicas, replica))
  }

  replicas(withinMs: number): Promise<string[]> {
    return this.#call('list replicas', () => this.#redis.eval(REPLICAS, 1, this.#keys.replicas, withinMs, FORGET_REPLICA_MS) as Promise<string[]>)
  }

  async confirm(runId: string, phase: ConfirmPhase, replica: string): Promise<void> {
    const key = `${this.#keys.confirm}${runId}:${phase}`
    await this.#call('confirm a cutover step', () => Promise.all([this.#redis.sadd(key, replica), this.#redis.pexpire(key, CONFIRM_TTL_MS)]))
  }

  async confirmed(runId: string, phase: ConfirmPhase): Promise<Set<string>> {
    return new Set(await this.#call('read confirmations', () => this.#redis.smembers(`${this.#keys.confirm}${runId}:${phase}`)))
  }

  async transition(expected: CutoverState, next: CutoverState, o: { beforeDeadline?: number } = {}): Promise<boolean> {
    const done = await this.#call('change the cutover state', () =>
      this.#redis.eval(TRANSITION, 1, this.#keys.state, stateIdentity(expected), JSON.stringify(next), o.beforeDeadline ?? '') as Promise<number>)
    return done === 1
  }

  now(): Promise<number> {
    return this.#call('read the clock', () => this.#redis.eval(TIME, 0) as Promise<number>)
  }

  async request(request: CutoverRequest | undefined): Promise<void> {
    await this.#call('store a cutover request', async () => {
      if (request) await this.#redis.set(this.#keys.request, JSON.stringify(request))
      else await this.#redis.del(this.#keys.request)
    })
  }

  async pendingRequest(): Promise<CutoverRequest | undefined> {
    const raw = await this.#call('read the cutover request', () => this.#redis.get(this.#keys.request))
    return raw === null ? undefined : JSON.parse(raw) as CutoverRequest
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw new Error(`cutover state in redis: cannot ${what}: ${(err as Error).message}`, { cause: err })
    }
  }
}

function parse(raw: string | null): CutoverState | undefined {
  return raw === null ? undefined : JSON.parse(raw) as CutoverState
}
