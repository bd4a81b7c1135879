// After a write through the proxy, reads of that tenant and resource type go to the authority
// for a while, so a client never reads its own write back from the store that has not got it yet.
// The window ends early when the sync says it has applied the slice's writes.

/** Bound on remembered slices; the oldest are dropped first (they are also the first to expire). */
const MAX_ENTRIES = 100_000

export class ReadYourWrites {
  #until = new Map<string, { until: number, writtenAt: number }>()
  #now: () => number

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  static key(tenant: string | undefined, resourceType: string): string {
    return `${tenant ?? ''}\u0000${resourceType}`
  }

  /** Records a write made at `writtenAt`; reads of the slice stick to the authority for `windowMs`. */
  record(tenant: string | undefined, resourceType: string, windowMs: number, writtenAt = this.#now()): void {
    if (windowMs <= 0) return
    const key = ReadYourWrites.key(tenant, resourceType)
    this.#until.delete(key) // re-insert so Map order stays oldest-first
    this.#until.set(key, { until: this.#now() + windowMs, writtenAt })
    if (this.#until.size > MAX_ENTRIES) {
      const oldest = this.#until.keys().next().value
      if (oldest !== undefined) this.#until.delete(oldest)
    }
  }

  /** The sync applied the slice's writes made up to `upTo`: a window for no later write ends now. */
  acknowledge(tenant: string, resourceType: string, upTo: number): void {
    const key = ReadYourWrites.key(tenant === '' ? undefined : tenant, resourceType)
    const entry = this.#until.get(key)
    if (entry && entry.writtenAt <= upTo) this.#until.delete(key)
  }

  active(tenant: string | undefined, resourceType: string): boolean {
    if (this.#until.size === 0) return false
    const key = ReadYourWrites.key(tenant, resourceType)
    const entry = this.#until.get(key)
    if (entry === undefined) return false
    if (entry.until > this.#now()) return true
    this.#until.delete(key)
    return false
  }

  get size(): number {
    return this.#until.size
  }
}
