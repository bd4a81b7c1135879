// Counts over a sliding window of whole buckets (one second each by default), in fixed memory.

export class WindowCounter<K extends string> {
  readonly windowSec: number
  #keys: readonly K[]
  #bucketMs: number
  #buckets: Array<{ index: number, counts: Record<K, number> }>
  #now: () => number

  constructor(windowSec: number, keys: readonly K[], now: () => number = Date.now, bucketSec = 1) {
    this.windowSec = windowSec
    this.#keys = keys
    this.#now = now
    this.#bucketMs = bucketSec * 1000
    this.#buckets = Array.from({ length: Math.ceil(windowSec / bucketSec) }, () => ({ index: -1, counts: this.#zero() }))
  }

  #zero(): Record<K, number> {
    return Object.fromEntries(this.#keys.map(k => [k, 0])) as Record<K, number>
  }

  #bucketAt(index: number) {
    const n = this.#buckets.length
    return this.#buckets[((index % n) + n) % n]!
  }

  #current(): number {
    return Math.floor(this.#now() / this.#bucketMs)
  }

  add(key: K, n = 1): void {
    const index = this.#current()
    const bucket = this.#bucketAt(index)
    if (bucket.index !== index) {
      bucket.index = index
      bucket.counts = this.#zero()
    }
    bucket.counts[key] += n
  }

  /** Totals over the window, the current bucket included. */
  totals(): Record<K, number> {
    const out = this.#zero()
    for (const { counts } of this.series()) for (const k of this.#keys) out[k] += counts[k]
    return out
  }

  /** Every bucket of the window, oldest first, with its start time (ms); empty buckets count zero. */
  series(): Array<{ at: number, counts: Record<K, number> }> {
    const newest = this.#current()
    const n = this.#buckets.length
    return Array.from({ length: n }, (_, i) => {
      const index = newest - n + 1 + i
      const bucket = this.#bucketAt(index)
      return { at: index * this.#bucketMs, counts: bucket.index === index ? { ...bucket.counts } : this.#zero() }
    })
  }
}
