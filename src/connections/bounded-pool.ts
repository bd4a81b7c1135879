// The connections of one upstream for one role: an undici Pool of `connections` keep-alive
// sockets with connect, headers and body timeouts, behind a ConnectionBudget of the same size,
// so a request finding them all busy waits a bounded time instead of in undici's unbounded queue.
import { Pool, type Dispatcher } from 'undici'
import type { Side } from '../policy/schema.ts'
import { ConnectionBudget, type ConnectionRole } from './budget.ts'

const KEEP_ALIVE_MS = 30_000

export interface BoundedPoolOptions {
  side: Side
  role: ConnectionRole
  connections: number
  /** Connect timeout, and the default headers and body timeouts (a request may set its own). */
  timeoutMs: number
  /** Told of every request refused for want of a connection. */
  onRefused: () => void
}

export class BoundedPool {
  readonly budget: ConnectionBudget
  #pool: Pool

  constructor(url: string, o: BoundedPoolOptions) {
    this.budget = new ConnectionBudget(o.side, o.role, o.connections, o.onRefused)
    this.#pool = new Pool(new URL(url).origin, {
      connections: o.connections,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connectTimeout: o.timeoutMs,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    })
  }

  /**
   * A dispatcher (`request`, `stream`) over these connections whose requests wait at most
   * `waitMs` for a free one (0: a free one now, or none), then fail with a QueueTimeoutError.
   */
  waiting(waitMs: number): Dispatcher {
    const budget = this.budget
    return this.#pool.compose(dispatch => (opts, handler) => {
      budget.take(waitMs,
        () => dispatch(opts, new Releasing(handler, budget)),
        // Before any request started, as undici's own interceptors report a failure.
        err => (handler as FullHandler).onResponseError(null as unknown as Controller, err))
      return true
    })
  }

  /** Closes the pool once its in-flight requests are done. */
  close(): Promise<void> {
    return this.#pool.close()
  }
}

type Handler = Dispatcher.DispatchHandler
type Controller = Dispatcher.DispatchController
/** undici's own handlers (`request`, `stream`) implement every event. */
type FullHandler = Required<Pick<Handler, 'onRequestStart' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'>>

/**
 * Passes every event on and gives the connection back to the budget when the request ends,
 * either way, once (undici reports an error after the end when the end's handler throws).
 */
class Releasing implements Handler {
  #handler: FullHandler
  #budget: ConnectionBudget
  #released = false

  constructor(handler: Handler, budget: ConnectionBudget) {
    this.#handler = handler as FullHandler
    this.#budget = budget
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#handler.onRequestStart(controller, context)
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Parameters<FullHandler['onResponseStart']>[2], statusMessage?: string): void {
    this.#handler.onResponseStart(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.#handler.onResponseData(controller, chunk)
  }

  onResponseEnd(controller: Controller, trailers: Parameters<FullHandler['onResponseEnd']>[1]): void {
    this.#release()
    this.#handler.onResponseEnd(controller, trailers)
  }

  onResponseError(controller: Controller, error: Error): void {
    this.#release()
    this.#handler.onResponseError(controller, error)
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    this.#budget.release()
  }
}
