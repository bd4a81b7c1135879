// Counts over a sliding window of whole seconds, in fixed memory: one bucket per second.

export class WindowCounter<K extends string> {
  readonly windowSec: number
  #keys: readonly K[]
  #buckets: Array<{ second: number, counts: Record<K, number> }>
  #now: () => number

  constructor(windowSec: number, keys: readonly K[], now: () => number = Date.now) {
    this.windowSec = windowSec
    this.#keys = keys
    this.#now = now
    this.#buckets = Array.from({ length: windowSec }, () => ({ second: -1, counts: this.#zero() }))
  }

  #zero(): Record<K, number> {
    return Object.fromEntries(this.#keys.map(k => [k, 0])) as Record<K, number>
  }

  add(key: K, n = 1): void {
    const second = Math.floor(this.#now() / 1000)
    const bucket = this.#buckets[second % this.windowSec]!
    if (bucket.second !== second) {
      bucket.second = second
      bucket.counts = this.#zero()
    }
    bucket.counts[key] += n
  }

  /** Totals over the last `windowSec` seconds, this one included. */
  totals(): Record<K, number> {
    const oldest = Math.floor(this.#now() / 1000) - this.windowSec + 1
    const out = this.#zero()
    for (const b of this.#buckets) {
      if (b.second < oldest) continue
      for (const k of this.#keys) out[k] += b.counts[k]
    }
    return out
  }
}
