// A finished span as plain data: one flat tuple, the form the recorder (recorder.ts) gives an
// ended span in, that span-packing.ts packs for the crossing to the export worker and reads back
// there, and from which the worker's encoder writes OTLP (or fromBatch makes what the SDK's
// exporters read).
import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { addHrTimes, millisToHrTime } from '@opentelemetry/core'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace'

export type PlainContext = [traceId: string, spanId: string, traceFlags: number, isRemote: boolean, traceState: string | undefined]
export type PlainLink = [context: PlainContext, attributes: Attributes | undefined]
/** An event's time is on the span's clock (see SpanRecord). */
export type PlainEvent = [name: string, time: number, attributes: Attributes | undefined]

/**
 * One span: what the OTLP encoding of a span needs, and nothing that is the same for all of them.
 * Times are milliseconds on the recording thread's monotonic clock (performance.now()); the batch
 * says where that clock stood against the wall clock when it was sent.
 */
export type SpanRecord = [
  name: string, kind: SpanKind,
  traceId: string, spanId: string, traceFlags: number, traceState: string | undefined,
  /** '' for a span without a parent. */
  parentSpanId: string, parentIsRemote: boolean,
  start: number, end: number,
  statusCode: SpanStatusCode, statusMessage: string | undefined,
  attributes: Attributes, links: PlainLink[] | 0, events: PlainEvent[] | 0,
]

/** The spans of one export, and the Unix time in milliseconds at which their clock read 0. */
export interface SpanBatch {
  origin: number
  spans: SpanRecord[]
}

/** What every span of a process shares: its resource and its instrumentation scope. */
export interface SpanSource {
  resource: { attributes: Attributes, schemaUrl?: string }
  scope: { name: string, version?: string, schemaUrl?: string }
}

/** A trace state as the serializers read it (they only serialize it). */
const traceStateOf = (serialized: string): SpanContext['traceState'] => ({ serialize: () => serialized }) as SpanContext['traceState']

// Objects of one fixed shape each (no spread, no optional key left out): an exporter reads
// thousands a second, and a literal built by spreading is made property by property at run time.
function spanContext(traceId: string, spanId: string, traceFlags: number, isRemote: boolean, traceState: string | undefined): SpanContext {
  return { traceId, spanId, traceFlags, isRemote, traceState: traceState === undefined ? undefined : traceStateOf(traceState) }
}

/** The batch as the spans an exporter reads (the parts of ReadableSpan the OTLP serializers use). */
export function fromBatch(batch: SpanBatch, source: SpanSource): ReadableSpan[] {
  const resource = source.resource as ReadableSpan['resource']
  const origin = millisToHrTime(batch.origin)
  const at = (ms: number): HrTime => addHrTimes(origin, millisToHrTime(ms))
  return batch.spans.map(([
    name, kind, traceId, spanId, traceFlags, traceState, parentSpanId, parentIsRemote,
    start, end, statusCode, statusMessage, attributes, links, events,
  ]): ReadableSpan => {
    const context = spanContext(traceId, spanId, traceFlags, false, traceState)
    const [startTime, endTime] = [at(start), at(end)]
    return {
      name, kind, spanContext: () => context,
      // Of the parent, the serializers read only its id and whether it is remote (its trace is the span's).
      parentSpanContext: parentSpanId === '' ? undefined : spanContext(traceId, parentSpanId, traceFlags, parentIsRemote, traceState),
      startTime, endTime, duration: millisToHrTime(end - start), ended: true,
      status: { code: statusCode, message: statusMessage },
      attributes,
      links: links === 0 ? [] : links.map(([c, attributes]): Link => ({ context: spanContext(...c), attributes, droppedAttributesCount: 0 })),
      events: events === 0 ? [] : events.map(([name, time, attributes]): TimedEvent => ({ name, time: at(time), attributes, droppedAttributesCount: 0 })),
      resource, instrumentationScope: source.scope,
      droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
    }
  })
}
