// Emergency rollback overrides: slices whose reads go to the authority until cleared.
// With Redis every replica polls one hash, so an override set through any replica is obeyed
// by all of them within a poll interval; without Redis it lives in this process only.
import type { Redis } from 'ioredis'
import type { Logger } from '../telemetry/logger.ts'
import { NO_OVERRIDES, type Overrides } from '../policy/choose.ts'

export const ALL = '*'

export interface OverrideChange {
  rule?: string
  all?: boolean
  clear?: boolean
  /** Who or what set it, for /status and the log ("cli", "gate: 3 critical diffs"). */
  reason: string
}

export interface OverrideEntry { since: string, reason: string }

export interface OverrideStore {
  /** The overrides in force, read synchronously on every request. */
  readonly current: Overrides
  /** Entries by rule name (`*` for all), with when and why. */
  entries(): Record<string, OverrideEntry>
  apply(change: OverrideChange): Promise<void>
  /** Sets `rule`'s override unless one is already set (by anyone); resolves whether this call set it. */
  setIfAbsent(rule: string, reason: string): Promise<boolean>
  /** Where overrides live and whether that is healthy, for /status. */
  describe(): { backend: 'memory' | 'redis', stale: boolean, lastError?: string }
  close(): Promise<void>
}

function toOverrides(entries: Record<string, OverrideEntry>): Overrides {
  const names = Object.keys(entries)
  if (names.length === 0) return NO_OVERRIDES
  return { all: names.includes(ALL), rules: new Set(names.filter(n => n !== ALL)) }
}

export class MemoryOverrideStore implements OverrideStore {
  #entries: Record<string, OverrideEntry> = {}
  current: Overrides = NO_OVERRIDES

  entries(): Record<string, OverrideEntry> {
    return { ...this.#entries }
  }

  async apply(change: OverrideChange): Promise<void> {
    if (change.clear) this.#entries = {}
    else this.#entries[change.all ? ALL : change.rule!] = { since: new Date().toISOString(), reason: change.reason }
    this.current = toOverrides(this.#entries)
  }

  async setIfAbsent(rule: string, reason: string): Promise<boolean> {
    if (this.#entries[rule]) return false
    await this.apply({ rule, reason })
    return true
  }

  describe() {
    return { backend: 'memory' as const, stale: false }
  }

  async close(): Promise<void> {}
}

export const OVERRIDE_POLL_MS = 500

/**
 * Overrides in one Redis hash under `prefix`. Polled, so a replica that missed a message still
 * converges; when Redis is down the last known overrides stay in force and /status says stale.
 */
export class RedisOverrideStore implements OverrideStore {
  #redis: Redis
  #key: string
  #log: Logger
  #entries: Record<string, OverrideEntry> = {}
  #timer: NodeJS.Timeout
  #lastError: string | undefined
  current: Overrides = NO_OVERRIDES

  constructor(redis: Redis, prefix: string, log: Logger, pollMs = OVERRIDE_POLL_MS) {
    this.#redis = redis
    this.#key = `${prefix}overrides`
    this.#log = log
    this.#timer = setInterval(() => void this.refresh(), pollMs)
    this.#timer.unref()
  }

  /** Reads the hash now; called on a timer, and once at start. */
  async refresh(): Promise<void> {
    try {
      const raw = await this.#redis.hgetall(this.#key)
      const entries: Record<string, OverrideEntry> = {}
      for (const [name, value] of Object.entries(raw)) entries[name] = parseEntry(value)
      if (JSON.stringify(entries) !== JSON.stringify(this.#entries)) {
        this.#log.warn({ overrides: entries }, 'rollback overrides changed')
      }
      this.#entries = entries
      this.current = toOverrides(entries)
      if (this.#lastError) this.#log.info('redis is answering again; overrides are current')
      this.#lastError = undefined
    } catch (err) {
      if (!this.#lastError) this.#log.error({ err }, 'cannot read rollback overrides from redis; keeping the last known ones')
      this.#lastError = (err as Error).message
    }
  }

  entries(): Record<string, OverrideEntry> {
    return { ...this.#entries }
  }

  async apply(change: OverrideChange): Promise<void> {
    if (change.clear) {
      await this.#redis.del(this.#key)
    } else {
      const entry: OverrideEntry = { since: new Date().toISOString(), reason: change.reason }
      await this.#redis.hset(this.#key, change.all ? ALL : change.rule!, JSON.stringify(entry))
    }
    await this.refresh()
  }

  async setIfAbsent(rule: string, reason: string): Promise<boolean> {
    const entry: OverrideEntry = { since: new Date().toISOString(), reason }
    // Atomic: of replicas tripping the same gate at once, one sets it.
    const set = await this.#redis.hsetnx(this.#key, rule, JSON.stringify(entry)) === 1
    await this.refresh()
    return set
  }

  describe() {
    return { backend: 'redis' as const, stale: this.#lastError !== undefined, ...(this.#lastError ? { lastError: this.#lastError } : {}) }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
  }
}

function parseEntry(value: string): OverrideEntry {
  try {
    const v = JSON.parse(value) as Partial<OverrideEntry>
    return { since: String(v.since), reason: String(v.reason) }
  } catch {
    return { since: '', reason: value }
  }
}
