// Keeps a copy of a primary answer's body, up to a limit, while it streams to the client,
// so the shadow comparison never delays or buffers the client's response.
import type { ServerResponse } from 'node:http'
import { Writable } from 'node:stream'

export class BodyCapture extends Writable {
  #res: ServerResponse
  #limit: number
  #chunks: Buffer[] = []
  #size = 0
  overflowed = false

  constructor(res: ServerResponse, limit: number) {
    super()
    this.#res = res
    this.#limit = limit
    // A client that goes away stops the upstream read too.
    res.once('close', () => { if (!res.writableFinished) this.destroy() })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#size += chunk.length
    if (this.#size > this.#limit) {
      this.overflowed = true
      this.#chunks = []
    } else {
      this.#chunks.push(chunk)
    }
    if (this.#res.write(chunk)) done()
    else this.#res.once('drain', () => done())
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#res.end(done)
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (err) this.#res.destroy()
    done(err)
  }

  /** The captured body, in a buffer of its own (so it can be transferred to a worker); empty once it overflowed. */
  body(): Buffer {
    return ownedConcat(this.#chunks)
  }
}

/** Collects a shadow answer's body, failing once it passes the limit. */
export class BodyCollector extends Writable {
  #limit: number
  #chunks: Buffer[] = []
  #size = 0

  constructor(limit: number) {
    super()
    this.#limit = limit
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#size += chunk.length
    if (this.#size > this.#limit) {
      done(new BodyTooLargeError(this.#limit))
      return
    }
    this.#chunks.push(chunk)
    done()
  }

  /** The body, in a buffer of its own. */
  body(): Buffer {
    return ownedConcat(this.#chunks)
  }
}

/** One copy of the chunks into a buffer that owns its memory (Buffer.concat may hand out a slice of a shared pool). */
function ownedConcat(chunks: Buffer[]): Buffer {
  const out = Buffer.allocUnsafeSlow(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const chunk of chunks) at += chunk.copy(out, at)
  return out
}

export class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE'
  constructor(limit: number) {
    super(`body larger than shadow.maxBodyBytes (${limit})`)
    this.name = 'BodyTooLargeError'
  }
}
