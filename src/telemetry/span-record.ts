// A finished span as plain data, the form in which spans cross to the export worker, and back into
// what an exporter reads. A span crosses as one flat tuple: structured clone (postMessage) copies
// an array of primitives several times faster than an object with the same fields, and faster
// than JSON text; per span it costs about a microsecond on the request path's thread.
import type { Attributes, Link, SpanContext, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace'

type PlainLink = { context: PlainContext, attributes?: Attributes, droppedAttributesCount?: number }
type PlainContext = [traceId: string, spanId: string, traceFlags: number, isRemote: boolean, traceState: string | undefined]

/** One span: what the OTLP encoding of a span needs, and nothing that is the same for all of them. */
export type SpanRecord = [
  name: string, kind: SpanKind, scope: number,
  traceId: string, spanId: string, traceFlags: number, isRemote: boolean, traceState: string | undefined,
  /** An empty parentSpanId: no parent. */
  parentTraceId: string, parentSpanId: string, parentTraceFlags: number, parentIsRemote: boolean, parentTraceState: string | undefined,
  startSeconds: number, startNanos: number, endSeconds: number, endNanos: number,
  statusCode: SpanStatusCode, statusMessage: string | undefined,
  attributes: Attributes, links: PlainLink[] | 0, events: TimedEvent[] | 0,
  droppedAttributes: number, droppedEvents: number, droppedLinks: number,
]

/** What the spans of a batch share: the resource (one per process) and their instrumentation scopes. */
export interface SpanBatch {
  resource: { attributes: Attributes, schemaUrl?: string }
  scopes: Array<{ name: string, version?: string, schemaUrl?: string }>
  spans: SpanRecord[]
}

const NO_PARENT: PlainContext = ['', '', 0, false, undefined]

function plainContext(c: SpanContext): PlainContext {
  return [c.traceId, c.spanId, c.traceFlags, c.isRemote === true, c.traceState?.serialize()]
}

/** The batch as plain data (every span of one process shares its resource). */
export function toBatch(spans: ReadableSpan[]): SpanBatch {
  const scopes = new Map<ReadableSpan['instrumentationScope'], number>()
  const records = spans.map((s): SpanRecord => {
    let scope = scopes.get(s.instrumentationScope)
    if (scope === undefined) scopes.set(s.instrumentationScope, scope = scopes.size)
    const c = s.spanContext()
    const p = s.parentSpanContext
    return [
      s.name, s.kind, scope,
      ...plainContext(c), ...(p ? plainContext(p) : NO_PARENT),
      s.startTime[0], s.startTime[1], s.endTime[0], s.endTime[1],
      s.status.code, s.status.message,
      s.attributes, s.links.length === 0 ? 0 : s.links.map(l => ({ ...l, context: plainContext(l.context) })), s.events.length === 0 ? 0 : s.events,
      s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount,
    ]
  })
  const resource = spans[0]!.resource
  return {
    resource: { attributes: resource.attributes, ...(resource.schemaUrl ? { schemaUrl: resource.schemaUrl } : {}) },
    scopes: [...scopes.keys()].map(s => ({ name: s.name, ...(s.version ? { version: s.version } : {}), ...(s.schemaUrl ? { schemaUrl: s.schemaUrl } : {}) })),
    spans: records,
  }
}

/** A trace state as the serializers read it (they only serialize it). */
const traceStateOf = (serialized: string): SpanContext['traceState'] => ({ serialize: () => serialized }) as SpanContext['traceState']

// Objects of one fixed shape each (no spread, no optional key left out): an exporter reads
// thousands a second, and a literal built by spreading is made property by property at run time.
function spanContext(traceId: string, spanId: string, traceFlags: number, isRemote: boolean, traceState: string | undefined): SpanContext {
  return { traceId, spanId, traceFlags, isRemote, traceState: traceState === undefined ? undefined : traceStateOf(traceState) }
}

/** The batch as the spans an exporter reads (the parts of ReadableSpan the OTLP serializers use). */
export function fromBatch(batch: SpanBatch): ReadableSpan[] {
  const resource = batch.resource as ReadableSpan['resource']
  return batch.spans.map(([
    name, kind, scope, traceId, spanId, traceFlags, isRemote, traceState,
    parentTraceId, parentSpanId, parentTraceFlags, parentIsRemote, parentTraceState,
    startSeconds, startNanos, endSeconds, endNanos, statusCode, statusMessage, attributes, links, events,
    droppedAttributes, droppedEvents, droppedLinks,
  ]): ReadableSpan => {
    const context = spanContext(traceId, spanId, traceFlags, isRemote, traceState)
    return {
      name, kind, spanContext: () => context,
      parentSpanContext: parentSpanId === '' ? undefined : spanContext(parentTraceId, parentSpanId, parentTraceFlags, parentIsRemote, parentTraceState),
      startTime: [startSeconds, startNanos], endTime: [endSeconds, endNanos], duration: [endSeconds - startSeconds, endNanos - startNanos], ended: true,
      status: { code: statusCode, message: statusMessage },
      attributes,
      links: links === 0 ? [] : links.map((l): Link => ({ context: spanContext(...l.context), attributes: l.attributes, droppedAttributesCount: l.droppedAttributesCount })),
      events: events === 0 ? [] : events,
      resource, instrumentationScope: batch.scopes[scope]!,
      droppedAttributesCount: droppedAttributes, droppedEventsCount: droppedEvents, droppedLinksCount: droppedLinks,
    }
  })
}
