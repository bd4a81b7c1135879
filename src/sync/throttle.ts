// Keeps the sync polite: a token bucket caps writes per second, and requests slow down when
// the upstream says so (429 with Retry-After), fails (5xx), or answers slower than usual.

const MIN_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 10_000
/** Latency above this multiple of the running baseline counts as the upstream struggling. */
const SLOW_FACTOR = 3
const BASELINE_WEIGHT = 0.05

export class Throttle {
  #ratePerSec: number
  #tokens: number
  #refilledAt: number
  #pausedUntil = 0
  #backoffMs = 0
  #baselineMs: number | undefined
  #now: () => number

  constructor(writesPerSecond: number, now: () => number = Date.now) {
    this.#ratePerSec = writesPerSecond
    this.#tokens = writesPerSecond
    this.#now = now
    this.#refilledAt = now()
  }

  /** Waits until a request may be sent: after any backoff, and for writes, a token. */
  async acquire(write: boolean): Promise<void> {
    for (;;) {
      const now = this.#now()
      if (now < this.#pausedUntil) {
        await sleep(this.#pausedUntil - now)
        continue
      }
      if (!write) return
      this.#tokens = Math.min(this.#ratePerSec, this.#tokens + (now - this.#refilledAt) * this.#ratePerSec / 1000)
      this.#refilledAt = now
      if (this.#tokens >= 1) {
        this.#tokens -= 1
        return
      }
      await sleep(Math.ceil((1 - this.#tokens) * 1000 / this.#ratePerSec))
    }
  }

  /** Feeds back one answer: its status, how long it took, and any Retry-After (ms). */
  observe(status: number, latencyMs: number, retryAfterMs?: number): void {
    if (status === 429) {
      this.#pause(retryAfterMs ?? this.#nextBackoff())
      return
    }
    if (status >= 500) {
      this.#pause(this.#nextBackoff())
      return
    }
    if (this.#baselineMs !== undefined && latencyMs > SLOW_FACTOR * this.#baselineMs) {
      this.#pause(Math.min(MAX_BACKOFF_MS, latencyMs)) // give it as long again as it took
    } else {
      this.#backoffMs = 0
    }
    this.#baselineMs = this.#baselineMs === undefined ? latencyMs : this.#baselineMs + BASELINE_WEIGHT * (latencyMs - this.#baselineMs)
  }

  /** A connection failure backs off like a 5xx. */
  failed(): void {
    this.#pause(this.#nextBackoff())
  }

  get pausedMs(): number {
    return Math.max(0, this.#pausedUntil - this.#now())
  }

  #nextBackoff(): number {
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.#backoffMs * 2))
    return this.#backoffMs
  }

  #pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Retry-After as ms: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (!v) return undefined
  const seconds = Number(v)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(v)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
