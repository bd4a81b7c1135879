// Trace and span ids for the recorder (recorder.ts): random, as W3C trace context asks, drawn from
// a pool of random bytes hex-encoded once per refill. The SDK's generator makes each id with
// Math.random and a native hex conversion (three a traced read); here an id is a slice of one
// long string, and the randomness comes from the system's CSPRNG.
import { randomFillSync } from 'node:crypto'
import type { IdGenerator } from '@opentelemetry/sdk-trace'

/** Random bytes drawn per refill: 128 traced reads of one trace id and two span ids. */
const POOL_BYTES = 4096

const TRACE_ID_CHARS = 32
const SPAN_ID_CHARS = 16

export class PooledIdGenerator implements IdGenerator {
  readonly #bytes: Buffer
  readonly #fill: (into: Buffer) => void
  #hex = ''
  #at = 0

  /** `fill` writes random bytes into its buffer (a test gives one that does not). */
  constructor(fill: (into: Buffer) => void = randomFillSync, poolBytes = POOL_BYTES) {
    this.#bytes = Buffer.allocUnsafe(poolBytes)
    this.#fill = fill
  }

  generateTraceId(): string {
    return this.#id(TRACE_ID_CHARS)
  }

  generateSpanId(): string {
    return this.#id(SPAN_ID_CHARS)
  }

  /** `chars` hex digits, never all zeros (W3C: such an id is invalid). */
  #id(chars: number): string {
    for (;;) {
      if (this.#at + chars > this.#hex.length) {
        this.#fill(this.#bytes)
        this.#hex = this.#bytes.toString('hex')
        this.#at = 0
      }
      const id = this.#hex.slice(this.#at, this.#at += chars)
      // One in 2^64 at least: no regex on the common path.
      if (id.charCodeAt(0) !== 48 || !/^0+$/.test(id)) return id
    }
  }
}
