// The rateLimit fault knob: a token bucket that allows a burst of one second's worth of
// requests, then the steady rate.
export class TokenBucket {
  #perSecond: number
  #capacity: number
  #tokens: number
  #last: number

  constructor(perSecond: number, now = performance.now()) {
    this.#perSecond = perSecond
    this.#capacity = Math.max(1, perSecond)
    this.#tokens = this.#capacity
    this.#last = now
  }

  /** Takes a token if one is left; false means over the limit. */
  take(now = performance.now()): boolean {
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#perSecond / 1000)
    this.#last = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
