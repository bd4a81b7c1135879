// An append-only log that keeps its newest entries: the conflict log and the audit log.

export interface BoundedLog<T> {
  /** Adds an entry; the oldest ones beyond the bound are dropped. */
  append(entry: T): Promise<void>
  /** The newest `limit` entries, newest first. */
  recent(limit: number): Promise<T[]>
}

export interface MemoryLogOptions<T> {
  limit: number
  /** Entries to start from, newest first (read back from a state file). */
  initial?: T[] | undefined
  /** Awaited after every append, so a store can make it durable. */
  onAppend?: (() => Promise<void>) | undefined
}

/**
 * The log in this process's memory, for the state file (which saves `entries`) and for a proxy
 * without shared state.
 * @example
 * const log = new MemoryLog<string>({ limit: 100 })
 */
export class MemoryLog<T> implements BoundedLog<T> {
  #entries: T[]
  #limit: number
  #onAppend: (() => Promise<void>) | undefined

  constructor(o: MemoryLogOptions<T>) {
    this.#limit = o.limit
    this.#entries = (o.initial ?? []).slice(0, this.#limit)
    this.#onAppend = o.onAppend
  }

  /** Newest first. */
  get entries(): readonly T[] {
    return this.#entries
  }

  async append(entry: T): Promise<void> {
    // In the log at once, so a read right after the event shows it.
    this.#entries.unshift(entry)
    this.#entries.length = Math.min(this.#entries.length, this.#limit)
    await this.#onAppend?.()
  }

  async recent(limit: number): Promise<T[]> {
    return this.#entries.slice(0, limit)
  }
}
