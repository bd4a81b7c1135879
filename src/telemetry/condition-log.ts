// Logs a condition that can repeat on every request (reads falling back while a breaker is open,
// writes not announced while Redis is down) as a few lines about the condition instead of one
// per event: the first event at once, then at most one summary with the count per interval, and
// a line when the condition ends.
import type { Logger } from './logger.ts'

/** At most one summary line per condition this often. */
export const SUMMARY_INTERVAL_MS = 10_000

export interface Condition {
  /** Fields on every line about it; low-cardinality, such as sides and roles. */
  fields: Record<string, unknown>
  /** The warn line for its first event. */
  began: string
  /** The warn line for `count` more events over the last `seconds`. */
  summary: (count: number, seconds: number) => string
  /**
   * The info line when `end` is called, given all its events. A condition with one holds until
   * `end`; one without ends quietly after an interval without events.
   */
  ended?: (total: number) => string
}

export interface ConditionLogOptions {
  intervalMs?: number
  /** The clock, in milliseconds; injected by tests so they never sleep. */
  now?: () => number
}

interface Held {
  condition: Condition
  /** Start of the current summary window. */
  since: number
  /** Events since the last line. */
  pending: number
  total: number
  latest: Record<string, unknown> | undefined
}

/**
 * Conditions by key, each logged as it begins, summarized while it holds, and as it ends.
 * @example
 * const down = new ConditionLog(log)
 * down.event('redis', () => ({ fields: {}, began: 'redis is down', summary: (n, s) => `${n} writes lost in ${s} s`, ended: n => `redis is back; ${n} writes were lost` }))
 * down.end('redis')
 */
export class ConditionLog {
  #log: Logger
  #intervalMs: number
  #now: () => number
  #held = new Map<string, Held>()
  #timer: NodeJS.Timeout | undefined

  constructor(log: Logger, options: ConditionLogOptions = {}) {
    this.#log = log
    this.#intervalMs = options.intervalMs ?? SUMMARY_INTERVAL_MS
    this.#now = options.now ?? Date.now
  }

  /**
   * One event of the condition `key`. `describe` is called only when the condition begins;
   * `detail` (such as the error) goes on the first line, and the latest one on each summary.
   */
  event(key: string, describe: () => Condition, detail?: Record<string, unknown>): void {
    const now = this.#now()
    const held = this.#held.get(key)
    if (held) {
      held.pending++
      held.total++
      held.latest = detail
      if (now - held.since >= this.#intervalMs) this.#summarize(held, now)
      return
    }
    const condition = describe()
    this.#held.set(key, { condition, since: now, pending: 0, total: 1, latest: detail })
    this.#log.warn({ ...condition.fields, ...detail }, condition.began)
    this.#timer ??= setInterval(() => this.flush(), this.#intervalMs).unref()
  }

  /** The condition `key` is over: its last summary, then its `ended` line. Nothing if it does not hold. */
  end(key: string): void {
    const held = this.#held.get(key)
    if (!held) return
    this.#summarize(held, this.#now())
    const { condition } = held
    if (condition.ended) this.#log.info({ ...condition.fields, total: held.total }, condition.ended(held.total))
    this.#forget(key)
  }

  /** Logs the summaries that are due. Run every interval by a timer while any condition holds. */
  flush(): void {
    const now = this.#now()
    for (const [key, held] of this.#held) {
      if (now - held.since < this.#intervalMs) continue
      if (held.pending > 0) this.#summarize(held, now)
      else if (!held.condition.ended) this.#forget(key) // a whole interval without an event: over
    }
  }

  /** Logs every pending count (on stop) and forgets every condition. */
  close(): void {
    const now = this.#now()
    for (const held of this.#held.values()) this.#summarize(held, now)
    this.#held.clear()
    this.#stopTimer()
  }

  #summarize(held: Held, now: number): void {
    if (held.pending === 0) return
    const seconds = Math.round((now - held.since) / 100) / 10
    this.#log.warn({ ...held.condition.fields, count: held.pending, seconds, ...(held.latest ? { latest: held.latest } : {}) },
      held.condition.summary(held.pending, seconds))
    held.pending = 0
    held.since = now
  }

  #forget(key: string): void {
    this.#held.delete(key)
    if (this.#held.size === 0) this.#stopTimer()
  }

  #stopTimer(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
