// Whether a referenced object exists on a side, remembered briefly: many objects name the same
// few parents (every alert rule of a team, one escalation policy), so without it each shadow
// comparison would add a read per link per side. Bounded in entries and age (lru-cache), and
// concurrent lookups of one object share one read.
import { LRUCache } from 'lru-cache'
import type { Presence } from './references.ts'

/** How long an answer is trusted: short, so a parent the sync has just copied is seen soon. */
export const REFERENCE_TTL_MS = 5000
/** Objects remembered at most (per proxy process); the least recently used go first. */
export const REFERENCE_MAX = 10_000

export interface ReferenceCacheOptions {
  ttlMs?: number
  max?: number
  /** The clock (ms, monotonic); tests inject one. */
  now?: () => number
}

/** An answer, with when its read began (the cache's clock). */
interface Known {
  present: boolean
  at: number
}

export class ReferenceCache {
  #cache: LRUCache<string, Known, () => Promise<Presence>>
  /** The cache's clock (ms): what `fresherThan` is measured on. */
  readonly now: () => number

  constructor(o: ReferenceCacheOptions = {}) {
    const now = o.now
    this.now = now ?? (() => performance.now())
    this.#cache = new LRUCache<string, Known, () => Promise<Presence>>({
      max: o.max ?? REFERENCE_MAX,
      ttl: o.ttlMs ?? REFERENCE_TTL_MS,
      // Age is checked when read, never by a timer per entry.
      ttlAutopurge: false,
      // An injected clock is read on every lookup (lru-cache otherwise reuses a reading for 1 ms).
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      // An answer that could not tell (undefined) is not kept: the next comparison asks again.
      fetchMethod: async (_key, _stale, { context }) => {
        const at = this.now()
        const present = await context()
        return present === undefined ? undefined : { present, at }
      },
    })
  }

  /**
   * The remembered presence of `key` (a side and a path), or `read`'s answer, remembered when it
   * is one. With `fresherThan`, a remembered answer whose read began earlier is read again (one
   * read for every lookup asking at once). `read` reports its own failures as undefined; it
   * never rejects.
   */
  async presence(key: string, read: () => Promise<Presence>, fresherThan?: number): Promise<Presence> {
    const known = fresherThan === undefined ? undefined : this.#cache.get(key)
    const forceRefresh = fresherThan !== undefined && (known === undefined || known.at < fresherThan)
    return (await this.#cache.fetch(key, { context: read, forceRefresh }))?.present
  }

  get size(): number {
    return this.#cache.size
  }
}
