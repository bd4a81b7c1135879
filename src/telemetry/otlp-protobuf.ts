// A batch of span records (span-record.ts) as an OTLP/protobuf ExportTraceServiceRequest, written
// straight from the tuples: byte for byte what the SDK's ProtobufTraceSerializer writes for the
// same spans (a test holds it to that), at a fraction of its cost. The SDK's serializer takes
// ReadableSpan objects, walks every span twice (sizing, then writing), copies each id through a
// fresh array and each string one character at a time: about 3 µs a span, more than recording it.
// Here the resource and scope are written once per worker, strings by Buffer's native writes, and
// the attributes that repeat on every span (rule, side, reason, status...) are kept encoded.
// Only the encoding is dualread's: the request goes through the SDK's OTLP/HTTP transport
// (export-worker.ts), with its headers, compression, timeout and retries.
import type { AttributeValue, Attributes } from '@opentelemetry/api'
import type { PlainLink, SpanBatch, SpanSource } from './span-record.ts'

// Wire types.
const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5
const tag = (field: number, wire: number) => field << 3 | wire

// OTLP's Span.flags: the W3C flags, and whether the parent (or a link) is remote, known.
const HAS_IS_REMOTE = 0x100
const IS_REMOTE = 0x200
const spanFlags = (traceFlags: number, isRemote: boolean | undefined) => (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0)

/** Encoded key-values kept, at most (attribute values are few: names, sides, reasons, statuses). */
const MAX_KEPT = 4096

/** Each hex digit's value by its character code (ids are validated lowercase hex; anything else reads as 0). */
const NIBBLE = new Uint8Array(128)
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = NIBBLE['0123456789ABCDEF'.charCodeAt(i)] = i

/** A growing buffer written front to back. */
class Writer {
  buf = Buffer.allocUnsafe(64 * 1024)
  pos = 0

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  byte(b: number): void {
    this.reserve(1)
    this.buf[this.pos++] = b
  }

  /** A varint of any safe integer; negative ones as two's complement in ten bytes, as protobuf writes int64. */
  varint(value: number): void {
    this.reserve(10)
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0
      while (v > 127) {
        this.buf[this.pos++] = (v & 127) | 128
        v >>>= 7
      }
      this.buf[this.pos++] = v
      return
    }
    const abs = Math.abs(value)
    let low = abs >>> 0
    let high = Math.floor(abs / 0x100000000) >>> 0
    if (value < 0) {
      low = ~low >>> 0
      high = ~high >>> 0
      low = (low + 1) >>> 0
      if (low === 0) high = (high + 1) >>> 0
    }
    while (high > 0 || low > 127) {
      this.buf[this.pos++] = (low & 127) | 128
      low = ((low >>> 7) | (high << 25)) >>> 0
      high >>>= 7
    }
    this.buf[this.pos++] = low & 127
  }

  fixed32(v: number): void {
    this.reserve(4)
    this.pos = this.buf.writeUInt32LE(v >>> 0, this.pos)
  }

  fixed64(low: number, high: number): void {
    this.reserve(8)
    this.pos = this.buf.writeUInt32LE(low >>> 0, this.pos)
    this.pos = this.buf.writeUInt32LE(high >>> 0, this.pos)
  }

  double(v: number): void {
    this.reserve(8)
    this.pos = this.buf.writeDoubleLE(v, this.pos)
  }

  string(s: string): void {
    const n = Buffer.byteLength(s)
    this.varint(n)
    this.reserve(n)
    this.pos += this.buf.write(s, this.pos, n, 'utf8')
  }

  /** A trace or span id: its hex as bytes (by table: for 16 or 32 digits, faster than Buffer's native hex write). */
  id(hex: string): void {
    const n = hex.length >>> 1
    this.varint(n)
    this.reserve(n)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < hex.length; i += 2) buf[pos++] = (NIBBLE[hex.charCodeAt(i)]! << 4) | NIBBLE[hex.charCodeAt(i + 1)]!
    this.pos = pos
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Starts a length-delimited field; `end` writes its length once its content is written. */
  begin(field: number): number {
    this.byte(tag(field, LEN))
    this.reserve(1)
    return this.pos++
  }

  end(at: number): void {
    const length = this.pos - at - 1
    if (length < 128) {
      this.buf[at] = length
      return
    }
    // Longer than one byte's varint: move the content up to make room.
    let size = 1
    for (let v = length; v > 127; v >>>= 7) size++
    this.reserve(size - 1)
    this.buf.copyWithin(at + size, at + 1, this.pos)
    this.pos += size - 1
    let v = length
    let p = at
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128
      v >>>= 7
    }
    this.buf[p] = v
  }

  take(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/** Unix nanoseconds of `origin + ms`, as the SDK gets them (HrTime by addHrTimes of both, then fixed64). */
function time(w: Writer, originSeconds: number, originNanos: number, ms: number): void {
  let seconds = Math.trunc(ms / 1000)
  let nanos = Math.round((ms % 1000) * 1e6)
  seconds += originSeconds
  nanos += originNanos
  if (nanos >= 1e9) {
    seconds += 1
    nanos -= 1e9
  }
  const lower = (seconds & 0xffff) * 1e9
  const upper = (seconds / 0x10000 >>> 0) * 1e9
  const low = (lower >>> 0) + ((upper & 0xffff) * 0x10000 >>> 0) + nanos
  w.fixed64(low >>> 0, (Math.floor(lower / 0x100000000) + (upper / 0x10000 >>> 0) + Math.floor(low / 0x100000000)) >>> 0)
}

function anyValue(w: Writer, value: AttributeValue | null | undefined): void {
  if (typeof value === 'string') {
    w.byte(tag(1, LEN))
    w.string(value)
  } else if (typeof value === 'boolean') {
    w.byte(tag(2, VARINT))
    w.byte(value ? 1 : 0)
  } else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
      w.byte(tag(3, VARINT))
      w.varint(value)
    } else {
      w.byte(tag(4, I64))
      w.double(value)
    }
  } else if (Array.isArray(value)) {
    const array = w.begin(5)
    for (const item of value) {
      const at = w.begin(1)
      anyValue(w, item)
      w.end(at)
    }
    w.end(array)
  }
  // (null and undefined, which arrays of the API may hold, write nothing, as in the SDK.)
}

function keyValue(w: Writer, field: number, key: string, value: AttributeValue | undefined): void {
  const at = w.begin(field)
  w.byte(tag(1, LEN))
  w.string(key)
  const v = w.begin(2)
  anyValue(w, value)
  w.end(v)
  w.end(at)
}

function attributes(w: Writer, field: number, a: Attributes | undefined): void {
  for (const key in a) keyValue(w, field, key, a[key])
}

/** Writes ExportTraceServiceRequests for the spans of one source (one per worker). */
export class OtlpProtobufEncoder {
  readonly #source: SpanSource
  /** The encoded `Span.attributes` entries of each key and value seen, while there are few. */
  readonly #kept = new Map<string, Map<AttributeValue, Buffer>>()
  #keptCount = 0
  readonly #w = new Writer()
  readonly #scratch = new Writer()

  constructor(source: SpanSource) {
    this.#source = source
  }

  encode(batch: SpanBatch): Uint8Array {
    const w = this.#w
    w.pos = 0
    const { resource, scope } = this.#source
    const resourceSpans = w.begin(1)
    const r = w.begin(1)
    attributes(w, 1, resource.attributes)
    w.byte(tag(2, VARINT))
    w.byte(0)
    w.end(r)
    const scopeSpans = w.begin(2)
    const s = w.begin(1)
    w.byte(tag(1, LEN))
    w.string(scope.name)
    if (scope.version) {
      w.byte(tag(2, LEN))
      w.string(scope.version)
    }
    w.end(s)
    const originSeconds = Math.trunc(batch.origin / 1000)
    const originNanos = Math.round((batch.origin % 1000) * 1e6)
    for (const span of batch.spans) this.#span(w, span, originSeconds, originNanos)
    if (scope.schemaUrl) {
      w.byte(tag(3, LEN))
      w.string(scope.schemaUrl)
    }
    w.end(scopeSpans)
    if (resource.schemaUrl) {
      w.byte(tag(3, LEN))
      w.string(resource.schemaUrl)
    }
    w.end(resourceSpans)
    // A copy: the writer's buffer is written again by the next batch while this one may still be sent.
    return Buffer.from(w.take())
  }

  #span(w: Writer, record: SpanBatch['spans'][number], originSeconds: number, originNanos: number): void {
    const [
      name, kind, traceId, spanId, traceFlags, traceState, parentSpanId, parentIsRemote,
      start, end, statusCode, statusMessage, attrs, links, events,
    ] = record
    const at = w.begin(2)
    idsAndState(w, traceId, spanId, traceState)
    if (parentSpanId) {
      w.byte(tag(4, LEN))
      w.id(parentSpanId)
    }
    w.byte(tag(5, LEN))
    w.string(name)
    w.byte(tag(6, VARINT))
    w.varint(kind + 1)
    w.byte(tag(7, I64))
    time(w, originSeconds, originNanos, start)
    w.byte(tag(8, I64))
    time(w, originSeconds, originNanos, end)
    for (const key in attrs) this.#attribute(w, key, attrs[key])
    w.byte(tag(10, VARINT))
    w.byte(0)
    if (events !== 0) {
      for (const [eventName, eventTime, eventAttributes] of events) {
        const e = w.begin(11)
        w.byte(tag(1, I64))
        time(w, originSeconds, originNanos, eventTime)
        w.byte(tag(2, LEN))
        w.string(eventName)
        attributes(w, 3, eventAttributes)
        w.byte(tag(4, VARINT))
        w.byte(0)
        w.end(e)
      }
    }
    w.byte(tag(12, VARINT))
    w.byte(0)
    if (links !== 0) for (const link of links) linkOf(w, link)
    w.byte(tag(14, VARINT))
    w.byte(0)
    const status = w.begin(15)
    if (statusMessage) {
      w.byte(tag(2, LEN))
      w.string(statusMessage)
    }
    w.byte(tag(3, VARINT))
    w.varint(statusCode)
    w.end(status)
    w.varint(tag(16, I32))
    w.fixed32(spanFlags(traceFlags, parentIsRemote))
    w.end(at)
  }

  /** One `Span.attributes` entry: copied from those kept, else written (and kept while there is room). */
  #attribute(w: Writer, key: string, value: AttributeValue | undefined): void {
    if (value === undefined || typeof value === 'object') return keyValue(w, 9, key, value)
    let values = this.#kept.get(key)
    const kept = values?.get(value)
    if (kept) return w.raw(kept)
    if (this.#keptCount >= MAX_KEPT) return keyValue(w, 9, key, value)
    const scratch = this.#scratch
    scratch.pos = 0
    keyValue(scratch, 9, key, value)
    const encoded = Buffer.from(scratch.take())
    if (!values) this.#kept.set(key, values = new Map())
    values.set(value, encoded)
    this.#keptCount++
    w.raw(encoded)
  }
}

/** Fields 1–3 of a Span and of a Span.Link alike: trace id, span id, trace state. */
function idsAndState(w: Writer, traceId: string, spanId: string, traceState: string | undefined): void {
  w.byte(tag(1, LEN))
  w.id(traceId)
  w.byte(tag(2, LEN))
  w.id(spanId)
  if (traceState) {
    w.byte(tag(3, LEN))
    w.string(traceState)
  }
}

function linkOf(w: Writer, [[traceId, spanId, traceFlags, isRemote, traceState], linkAttributes]: PlainLink): void {
  const at = w.begin(13)
  idsAndState(w, traceId, spanId, traceState)
  attributes(w, 4, linkAttributes)
  w.byte(tag(5, VARINT))
  w.byte(0)
  w.byte(tag(6, I32))
  w.fixed32(spanFlags(traceFlags, isRemote))
  w.end(at)
}
