// An upstream's raw answer turned into a JSON document: content-encoding undone, then parsed.
// Decompression is bounded, so a small compressed body cannot expand without limit.
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync, zstdDecompressSync } from 'node:zlib'

/** A raw HTTP answer, as read from one side. */
export interface BodyAnswer {
  status: number
  body: Buffer
  /** The Content-Encoding header, e.g. "gzip" or "gzip, br" (applied in that order). */
  contentEncoding?: string
}

export type Decoded = { ok: true, doc: unknown } | { ok: false, reason: string }

/** Default bound on a decompressed body. */
export const MAX_DECODED_BYTES = 32 * 1024 * 1024

type Decompress = (body: Buffer, options: { maxOutputLength: number }) => Buffer

const DECOMPRESSORS: ReadonlyMap<string, Decompress> = new Map<string, Decompress>([
  ['gzip', gunzipSync],
  ['x-gzip', gunzipSync],
  ['br', brotliDecompressSync],
  ['deflate', inflateZlibOrRaw],
  ['zstd', zstdDecompressSync],
])

/** HTTP "deflate" means zlib-wrapped, but some servers send raw deflate; accept both. */
function inflateZlibOrRaw(body: Buffer, options: { maxOutputLength: number }): Buffer {
  try {
    return inflateSync(body, options)
  } catch {
    return inflateRawSync(body, options)
  }
}

/**
 * The parsed body, or why there is none. Reasons start with "body" so a caller can prefix the side.
 * @example decodeBody({ status: 200, body: gzipSync('{"a":1}'), contentEncoding: 'gzip' }) // { ok: true, doc: { a: 1 } }
 */
export function decodeBody(answer: BodyAnswer, maxBytes = MAX_DECODED_BYTES): Decoded {
  let body = answer.body
  const codings = (answer.contentEncoding ?? '').split(',').map(c => c.trim().toLowerCase()).filter(c => c !== '' && c !== 'identity')
  for (const coding of codings.reverse()) {
    const decompress = DECOMPRESSORS.get(coding)
    if (decompress === undefined) return { ok: false, reason: `body has an unsupported content-encoding "${coding}" (expected gzip, br, deflate or zstd)` }
    try {
      body = decompress(body, { maxOutputLength: maxBytes })
    } catch (err) {
      return { ok: false, reason: `body could not be decompressed (${coding}): ${(err as Error).message}` }
    }
  }
  try {
    return { ok: true, doc: JSON.parse(body.toString('utf8')) }
  } catch (err) {
    // V8 quotes the start of the body in some messages; a body can hold secrets, so drop the quote.
    const message = (err as Error).message.replace(/, (?:\.\.\.)?".*is not valid JSON$/s, '')
    return { ok: false, reason: `body is not JSON (${body.length} bytes): ${message}` }
  }
}
