// A batch of span records (span-record.ts) as one flat buffer, the form in which it crosses from
// the event loop to the export worker: the buffer is transferred (moved, not copied), and the
// strings that recur on every span (its name, attribute keys, rule and side names, reasons) cross
// once each, as entries of a table both threads keep, and are then written as two-byte references.
// A structured clone of the same records walks every array and object and writes every string
// again on every span: in CPU profiles of a saturated proxy it was the largest single cost
// tracing added to the event loop (README: What the sidecar costs).
import type { AttributeValue, Attributes } from '@opentelemetry/api'
import type { PlainEvent, PlainLink, SpanBatch, SpanRecord } from './span-record.ts'

/** Strings kept in the table, at most; later new ones are written in full each time. */
const MAX_TABLE = 4096
/** Longer strings are always written in full (a table entry is kept for the life of the process). */
const MAX_TABLED_LENGTH = 256
/** Attributes packed per span, at most. */
const MAX_ATTRIBUTES = 0xffff
/** The reference that says a string follows in full. */
const INLINE = 0xffff

// Span flags.
const PARENT_REMOTE = 1
const TRACE_STATE = 2
const STATUS_MESSAGE = 4
const EXTRAS = 8

// Attribute value types.
const STRING = 0
const TRUE = 1
const FALSE = 2
const NUMBER = 3
/** Anything else the API allows (arrays, null, undefined): carried beside the buffer. */
const OTHER = 4

/** A batch as it is posted: `bytes` is transferred; `strings` are the table's new entries, in order. */
export interface PackedBatch {
  origin: number
  count: number
  bytes: ArrayBuffer
  length: number
  strings: string[]
  /** Links and events of the spans that have any, and attribute values that are not scalars, in the order read. */
  side: unknown[]
}

/**
 * Packs batches for one SpanUnpacker, which must be given every batch, in order (a MessagePort
 * keeps the order). Spans are added one by one, as they end, while what they hold is still in
 * the CPU's caches; `take` hands over what was added as one batch.
 */
export class SpanPacker {
  readonly #table = new Map<string, number>()
  readonly #initialBytes: number
  #buf = Buffer.allocUnsafeSlow(0)
  #pos = 0
  #count = 0
  #strings: string[] = []
  #side: unknown[] = []

  /** `expectedSpans`: how many spans a batch usually holds (its buffer is sized for them, up to 512, and grows past). */
  constructor(expectedSpans = 512) {
    this.#initialBytes = Math.max(1, Math.min(expectedSpans, 512)) * 192
  }

  /** Spans added since the last `take`. */
  get count(): number {
    return this.#count
  }

  add(span: SpanRecord): void {
    // Its own memory, to be transferred (a pooled Buffer shares its ArrayBuffer with others).
    if (this.#buf.length === 0) this.#buf = Buffer.allocUnsafeSlow(this.#initialBytes)
    this.#span(span)
    this.#count++
  }

  /** What was added, as one batch whose clock read 0 at Unix time `origin` (ms); the packer starts a new one. */
  take(origin: number): PackedBatch {
    const packed = { origin, count: this.#count, bytes: this.#buf.buffer as ArrayBuffer, length: this.#pos, strings: this.#strings, side: this.#side }
    this.#buf = Buffer.allocUnsafeSlow(0)
    this.#pos = 0
    this.#count = 0
    this.#strings = []
    this.#side = []
    return packed
  }

  #reserve(n: number): Buffer {
    if (this.#pos + n > this.#buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#pos + n))
      this.#buf.copy(grown, 0, 0, this.#pos)
      this.#buf = grown
    }
    return this.#buf
  }

  #span(record: SpanRecord): void {
    const [name, kind, traceId, spanId, traceFlags, traceState, parentSpanId, parentIsRemote, start, end, statusCode, statusMessage, attributes, links, events] = record
    const buf = this.#reserve(20)
    let flags = parentIsRemote ? PARENT_REMOTE : 0
    if (traceState !== undefined) flags |= TRACE_STATE
    if (statusMessage !== undefined) flags |= STATUS_MESSAGE
    if (links !== 0 || events !== 0) {
      flags |= EXTRAS
      this.#side.push(links, events)
    }
    buf[this.#pos] = kind
    buf[this.#pos + 1] = traceFlags
    buf[this.#pos + 2] = flags
    buf[this.#pos + 3] = statusCode
    buf.writeDoubleLE(start, this.#pos + 4)
    buf.writeDoubleLE(end, this.#pos + 12)
    this.#pos += 20
    this.#ascii(traceId)
    this.#ascii(spanId)
    this.#ascii(parentSpanId)
    this.#ref(name)
    if (traceState !== undefined) this.#inline(traceState)
    if (statusMessage !== undefined) this.#inline(statusMessage)
    const countAt = this.#pos
    this.#reserve(2)
    this.#pos += 2
    let count = 0
    for (const key in attributes) {
      // The count is two bytes: past it a span's attributes are left out (no span of dualread's has more than eight).
      if (count === MAX_ATTRIBUTES) break
      this.#ref(key)
      this.#value(attributes[key])
      count++
    }
    this.#buf.writeUInt16LE(count, countAt)
  }

  #value(value: AttributeValue | undefined): void {
    const buf = this.#reserve(9)
    if (typeof value === 'string') {
      buf[this.#pos++] = STRING
      this.#ref(value)
    } else if (typeof value === 'boolean') {
      buf[this.#pos++] = value ? TRUE : FALSE
    } else if (typeof value === 'number') {
      buf[this.#pos] = NUMBER
      buf.writeDoubleLE(value, this.#pos + 1)
      this.#pos += 9
    } else {
      buf[this.#pos++] = OTHER
      this.#side.push(value)
    }
  }

  /**
   * A trace or span id (hex, so one byte a character), or '' for none. Copied in a loop: a
   * Buffer#write per id (three a span) costs more in its crossing into C++ than in the copy.
   */
  #ascii(s: string): void {
    const n = s.length
    const buf = this.#reserve(1 + n)
    let at = this.#pos
    buf[at++] = n
    for (let i = 0; i < n; i++) buf[at++] = s.charCodeAt(i)
    this.#pos = at
  }

  /** A string by its table entry, made if there is room; else in full. */
  #ref(s: string): void {
    let index = this.#table.get(s)
    if (index === undefined && this.#table.size < MAX_TABLE && s.length <= MAX_TABLED_LENGTH) {
      index = this.#table.size
      this.#table.set(s, index)
      this.#strings.push(s)
    }
    const buf = this.#reserve(2)
    if (index === undefined) {
      buf.writeUInt16LE(INLINE, this.#pos)
      this.#pos += 2
      this.#inline(s)
      return
    }
    buf.writeUInt16LE(index, this.#pos)
    this.#pos += 2
  }

  #inline(s: string): void {
    const n = Buffer.byteLength(s)
    const buf = this.#reserve(4 + n)
    buf.writeUInt32LE(n, this.#pos)
    this.#pos += 4 + buf.write(s, this.#pos + 4, n, 'utf8')
  }
}

/** Reads what a SpanPacker packed, batch after batch, back into span records. */
export class SpanUnpacker {
  readonly #table: string[] = []
  #buf = Buffer.alloc(0)
  #pos = 0
  #side: unknown[] = []
  #sideAt = 0

  unpack(packed: PackedBatch): SpanBatch {
    for (const s of packed.strings) this.#table.push(s)
    this.#buf = Buffer.from(packed.bytes, 0, packed.length)
    this.#pos = 0
    this.#side = packed.side
    this.#sideAt = 0
    const spans: SpanRecord[] = []
    for (let i = 0; i < packed.count; i++) spans.push(this.#span())
    return { origin: packed.origin, spans }
  }

  #span(): SpanRecord {
    const buf = this.#buf
    const at = this.#pos
    const kind = buf[at]!
    const traceFlags = buf[at + 1]!
    const flags = buf[at + 2]!
    const statusCode = buf[at + 3]!
    const start = buf.readDoubleLE(at + 4)
    const end = buf.readDoubleLE(at + 12)
    this.#pos += 20
    const traceId = this.#ascii()
    const spanId = this.#ascii()
    const parentSpanId = this.#ascii()
    const name = this.#ref()
    const traceState = flags & TRACE_STATE ? this.#inline() : undefined
    const statusMessage = flags & STATUS_MESSAGE ? this.#inline() : undefined
    const count = buf.readUInt16LE(this.#pos)
    this.#pos += 2
    const attributes: Attributes = {}
    for (let i = 0; i < count; i++) {
      const key = this.#ref()
      attributes[key] = this.#value()
    }
    let links: PlainLink[] | 0 = 0
    let events: PlainEvent[] | 0 = 0
    if (flags & EXTRAS) {
      links = this.#side[this.#sideAt++] as PlainLink[] | 0
      events = this.#side[this.#sideAt++] as PlainEvent[] | 0
    }
    return [name, kind, traceId, spanId, traceFlags, traceState, parentSpanId, (flags & PARENT_REMOTE) !== 0, start, end, statusCode, statusMessage, attributes, links, events]
  }

  #value(): AttributeValue | undefined {
    const type = this.#buf[this.#pos++]
    if (type === STRING) return this.#ref()
    if (type === TRUE) return true
    if (type === FALSE) return false
    if (type === NUMBER) {
      const value = this.#buf.readDoubleLE(this.#pos)
      this.#pos += 8
      return value
    }
    return this.#side[this.#sideAt++] as AttributeValue | undefined
  }

  #ascii(): string {
    const n = this.#buf[this.#pos]!
    const s = this.#buf.toString('latin1', this.#pos + 1, this.#pos + 1 + n)
    this.#pos += 1 + n
    return s
  }

  #ref(): string {
    const index = this.#buf.readUInt16LE(this.#pos)
    this.#pos += 2
    return index === INLINE ? this.#inline() : this.#table[index]!
  }

  #inline(): string {
    const n = this.#buf.readUInt32LE(this.#pos)
    const s = this.#buf.toString('utf8', this.#pos + 4, this.#pos + 4 + n)
    this.#pos += 4 + n
    return s
  }
}
