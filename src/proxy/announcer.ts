// Announces each write through the proxy to the sync's change stream. An append that fails
// (the state store away for a moment) is retried with backoff, so a write is not lost to the
// sync; a cutover waits for every announcement in flight before it switches. Bounded: past
// MAX_PENDING waiting writes, or GIVE_UP_MS, a write is given up on and left to the full scan.
// An outage is a few log lines (ConditionLog), never one per write.
import type { Change, ChangeStream } from '../state/change-stream.ts'
import type { Condition, ConditionLog } from '../telemetry/condition-log.ts'
import type { WriteEvent } from './server.ts'

const MAX_PENDING = 10_000
const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 2000
/** Past this an announcement is given up on: the sync's next full scan copies the write. */
const GIVE_UP_MS = 60_000

export interface AnnouncerBounds {
  /** Writes whose announcement may wait for the change stream at once (default 10,000). */
  maxPending?: number
  /** How long one announcement is retried (default 60 s). */
  giveUpMs?: number
}

const UNAVAILABLE = 'change-stream'
const GIVEN_UP = 'announcements-given-up'

const unavailable = (): Condition => ({
  fields: {},
  began: 'cannot announce a write to the sync loop: the change stream is unavailable; retrying until it answers',
  summary: (n, s) => `${n} more writes could not be announced to the sync loop yet (last ${s} s); the change stream is still unavailable, retrying`,
  ended: n => `change stream recovered: writes are announced to the sync loop again (${n} waited for it)`,
})

const givenUp = (): Condition => ({
  fields: {},
  began: 'a write was not announced to the sync loop in time; its next full scan copies it',
  summary: (n, s) => `${n} more writes were not announced to the sync loop (last ${s} s); its next full scan copies them`,
})


export class WriteAnnouncer {
  #sink: Pick<ChangeStream, 'append'>
  #conditions: ConditionLog
  #pending = 0
  #closed = false
  #maxPending: number
  #giveUpMs: number

  constructor(sink: Pick<ChangeStream, 'append'>, conditions: ConditionLog, bounds: AnnouncerBounds = {}) {
    this.#sink = sink
    this.#conditions = conditions
    this.#maxPending = bounds.maxPending ?? MAX_PENDING
    this.#giveUpMs = bounds.giveUpMs ?? GIVE_UP_MS
  }

  /** Resolves once the write is in the change stream, or once it has been given up on. */
  announce = (write: WriteEvent): Promise<void> => {
    const change = {
      resourceType: write.resourceType, tenant: write.tenant, at: write.at,
      ...(write.id === undefined ? {} : { id: write.id }), ...(write.traceparent === undefined ? {} : { traceparent: write.traceparent }),
    }
    return this.#append(change)
  }

  async #append(change: Change): Promise<void> {
    const started = Date.now()
    let wait = FIRST_RETRY_MS
    let waiting = false
    try {
      for (;;) {
        try {
          await this.#sink.append(change)
          this.#conditions.end(UNAVAILABLE)
          return
        } catch (err) {
          if (!waiting) {
            this.#conditions.event(UNAVAILABLE, unavailable, { err: { message: (err as Error).message } })
            if (this.#pending >= this.#maxPending) return this.#giveUp(change)
            waiting = true
            this.#pending++
          }
          if (this.#closed || Date.now() - started > this.#giveUpMs) return this.#giveUp(change)
          await new Promise(r => setTimeout(r, wait))
          wait = Math.min(wait * 2, MAX_RETRY_MS)
        }
      }
    } finally {
      if (waiting) this.#pending--
    }
  }

  #giveUp(change: Change): void {
    this.#conditions.event(GIVEN_UP, givenUp, { resourceType: change.resourceType, tenant: change.tenant, id: change.id })
  }

  /** Stops retrying: what still waits is given up on, and left to the full scan. */
  close(): void {
    this.#closed = true
  }
}
