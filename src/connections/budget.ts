// How many requests one role (reads, writes, sync) may have on an upstream's connections at
// once, and a bounded wait for a free one. undici's Pool and node's http.Agent both queue a
// request that finds every connection busy without any limit; this is the limit: a request
// that waits longer than its `waitMs` is refused with a QueueTimeoutError instead.
import { AsyncResource } from 'node:async_hooks'
import type { Side } from '../policy/schema.ts'

export type ConnectionRole = 'reads' | 'writes' | 'sync'

/** The error code of a QueueTimeoutError (next to undici's `UND_ERR_*` and node's `E*` codes). */
export const QUEUE_TIMEOUT = 'EQUEUETIMEOUT'

const ROLE_WORD: Record<ConnectionRole, string> = { reads: 'read', writes: 'write', sync: 'sync' }

/** No connection of the role came free within the wait: the request was never sent. */
export class QueueTimeoutError extends Error {
  readonly code = QUEUE_TIMEOUT
  /** "all 64 read connections busy for 250 ms", for the words a client is told. */
  readonly busy: string
  constructor(side: Side, role: ConnectionRole, connections: number, waitedMs: number) {
    const busy = `all ${connections} ${ROLE_WORD[role]} connections busy for ${waitedMs} ms`
    super(`the ${side} upstream had ${busy} (queueTimeoutMs)`)
    this.name = 'QueueTimeoutError'
    this.busy = busy
  }
}

export interface BudgetReading {
  size: number
  inUse: number
  waiting: number
}

interface Waiter {
  granted: () => void
  timer: NodeJS.Timeout
}

const NOTHING_TO_CANCEL = () => undefined

/**
 * A counting semaphore with a bounded, first-come-first-served wait.
 *
 * @example
 * const budget = new ConnectionBudget('old', 'reads', 64, () => refusals++)
 * budget.take(250, () => send().finally(() => budget.release()), err => fail(err))
 */
export class ConnectionBudget {
  readonly side: Side
  readonly role: ConnectionRole
  readonly size: number
  #inUse = 0
  /** In arrival order (a Set iterates in insertion order, and deletes a timed-out waiter in O(1)). */
  #waiting = new Set<Waiter>()
  #onRefused: () => void

  /** `onRefused` is told of every refusal (to count it). */
  constructor(side: Side, role: ConnectionRole, size: number, onRefused: () => void) {
    this.side = side
    this.role = role
    this.size = size
    this.#onRefused = onRefused
  }

  /**
   * Runs `granted` now when a connection is free, else as soon as one is, unless `waitMs` passes
   * first (at once for 0): then `refused`. A granted caller must `release()` exactly once.
   * Returns a function that gives up the wait (a no-op once granted or refused).
   */
  take(waitMs: number, granted: () => void, refused: (err: QueueTimeoutError) => void): () => void {
    if (this.#inUse < this.size) {
      this.#inUse++
      granted()
      return NOTHING_TO_CANCEL
    }
    if (waitMs <= 0) {
      this.#refuse(refused, 0)
      return NOTHING_TO_CANCEL
    }
    const waiter: Waiter = {
      // Run later from another request's release: in this caller's async context (its trace), not that one's.
      granted: AsyncResource.bind(granted),
      timer: setTimeout(() => {
        this.#waiting.delete(waiter)
        this.#refuse(refused, waitMs)
      }, waitMs),
    }
    this.#waiting.add(waiter)
    return () => {
      if (this.#waiting.delete(waiter)) clearTimeout(waiter.timer)
    }
  }

  /** Gives a connection back: straight to the longest waiter, if any. */
  release(): void {
    const next = this.#waiting.values().next()
    if (next.done) {
      this.#inUse--
      return
    }
    const waiter = next.value
    this.#waiting.delete(waiter)
    clearTimeout(waiter.timer)
    // Not from inside the releasing request's own callbacks: the dispatcher finishes its bookkeeping first.
    queueMicrotask(waiter.granted)
  }

  reading(): BudgetReading {
    return { size: this.size, inUse: this.#inUse, waiting: this.#waiting.size }
  }

  #refuse(refused: (err: QueueTimeoutError) => void, waitedMs: number): void {
    this.#onRefused()
    refused(new QueueTimeoutError(this.side, this.role, this.size, waitedMs))
  }
}
