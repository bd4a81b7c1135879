// Announces each write through the proxy to the sync's change stream. An append that fails
// (the state store away for a moment) is retried with backoff, so a write is not lost to the
// sync; a cutover waits for every announcement in flight before it switches. Bounded: past
// MAX_PENDING retries the newest failures are given up on, logged and left to the full scan.
import type { ChangeEvent } from '../sync/state-store.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { WriteEvent } from './server.ts'

const MAX_PENDING = 10_000
const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 2000
/** Past this an announcement is given up on: the sync's next full scan copies the write. */
const GIVE_UP_MS = 60_000

export interface ChangeSink {
  appendChange(change: Omit<ChangeEvent, 'offset'>): Promise<void>
}

export class WriteAnnouncer {
  #sink: ChangeSink
  #log: Logger
  #pending = 0
  #failing = false
  #closed = false

  constructor(sink: ChangeSink, log: Logger) {
    this.#sink = sink
    this.#log = log
  }

  /** Resolves once the write is in the change stream, or once it has been given up on. */
  announce = (write: WriteEvent): Promise<void> => {
    const change = { resourceType: write.resourceType, tenant: write.tenant, at: write.at, ...(write.id === undefined ? {} : { id: write.id }) }
    return this.#append(change)
  }

  async #append(change: Omit<ChangeEvent, 'offset'>): Promise<void> {
    const started = Date.now()
    let wait = FIRST_RETRY_MS
    let retrying = false
    try {
      for (;;) {
        try {
          await this.#sink.appendChange(change)
          if (this.#failing) this.#log.info('write announcements reach the sync again')
          this.#failing = false
          return
        } catch (err) {
          if (!this.#failing) this.#log.warn({ err: { message: (err as Error).message } }, 'cannot announce writes to the sync loop; retrying until the state store answers')
          this.#failing = true
          if (!retrying) {
            if (this.#pending >= MAX_PENDING || this.#closed) return this.#giveUp(change, 'too many announcements are waiting')
            retrying = true
            this.#pending++
          }
          if (this.#closed || Date.now() - started > GIVE_UP_MS) return this.#giveUp(change, 'the state store did not answer in time')
          await new Promise(r => setTimeout(r, wait).unref())
          wait = Math.min(wait * 2, MAX_RETRY_MS)
        }
      }
    } finally {
      if (retrying) this.#pending--
    }
  }

  #giveUp(change: Omit<ChangeEvent, 'offset'>, why: string): void {
    this.#log.error({ resourceType: change.resourceType, tenant: change.tenant, id: change.id }, `a write was not announced to the sync (${why}); its next full scan copies it`)
  }

  get pending(): number {
    return this.#pending
  }

  /** Stops retrying: what still waits is left to the full scan. */
  close(): void {
    this.#closed = true
  }
}
