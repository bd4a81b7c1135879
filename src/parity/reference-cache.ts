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

export class ReferenceCache {
  #cache: LRUCache<string, boolean, () => Promise<Presence>>

  constructor(o: ReferenceCacheOptions = {}) {
    const now = o.now
    this.#cache = new LRUCache<string, boolean, () => Promise<Presence>>({
      max: o.max ?? REFERENCE_MAX,
      ttl: o.ttlMs ?? REFERENCE_TTL_MS,
      // Age is checked when read, never by a timer per entry.
      ttlAutopurge: false,
      // An injected clock is read on every lookup (lru-cache otherwise reuses a reading for 1 ms).
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
      // An answer that could not tell (undefined) is not kept: the next comparison asks again.
      fetchMethod: (_key, _stale, { context }) => context(),
    })
  }

  /**
   * The remembered presence of `key` (a side and a path), or `read`'s answer, remembered when it
   * is one. `read` reports its own failures as undefined; it never rejects.
   */
  presence(key: string, read: () => Promise<Presence>): Promise<Presence> {
    return this.#cache.fetch(key, { context: read })
  }

  get size(): number {
    return this.#cache.size
  }
}
