// A finished span as plain data, the form in which spans cross to the export worker (structured
// clone copies plain data, not the SDK's span objects), and back into what an exporter reads.
import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace'

type Context = Omit<SpanContext, 'traceState'> & { traceState?: string }

/** One span: what the OTLP encoding of a span needs, and nothing that is the same for all of them. */
export interface SpanRecord {
  name: string
  kind: SpanKind
  context: Context
  parent: Context | undefined
  startTime: HrTime
  endTime: HrTime
  status: SpanStatus
  attributes: Attributes
  links: Array<{ context: Context, attributes?: Attributes, droppedAttributesCount?: number }>
  events: TimedEvent[]
  dropped: [attributes: number, events: number, links: number]
  /** Index into the batch's scopes. */
  scope: number
}

/** What the spans of a batch share: the resource (one per process) and their instrumentation scopes. */
export interface SpanBatch {
  resource: { attributes: Attributes, schemaUrl?: string }
  scopes: Array<{ name: string, version?: string, schemaUrl?: string }>
  spans: SpanRecord[]
}

function plainContext(c: SpanContext): Context {
  const traceState = c.traceState?.serialize()
  return { traceId: c.traceId, spanId: c.spanId, traceFlags: c.traceFlags, ...(c.isRemote ? { isRemote: true } : {}), ...(traceState ? { traceState } : {}) }
}

/** The batch as plain data (every span of one process shares its resource). */
export function toBatch(spans: ReadableSpan[]): SpanBatch {
  const scopes = new Map<ReadableSpan['instrumentationScope'], number>()
  const records = spans.map((s): SpanRecord => {
    let scope = scopes.get(s.instrumentationScope)
    if (scope === undefined) scopes.set(s.instrumentationScope, scope = scopes.size)
    return {
      name: s.name, kind: s.kind, context: plainContext(s.spanContext()), parent: s.parentSpanContext && plainContext(s.parentSpanContext),
      startTime: s.startTime, endTime: s.endTime, status: s.status, attributes: s.attributes,
      links: s.links.map(l => ({ ...l, context: plainContext(l.context) })), events: s.events,
      dropped: [s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount], scope,
    }
  })
  const resource = spans[0]!.resource
  return {
    resource: { attributes: resource.attributes, ...(resource.schemaUrl ? { schemaUrl: resource.schemaUrl } : {}) },
    scopes: [...scopes.keys()].map(s => ({ name: s.name, ...(s.version ? { version: s.version } : {}), ...(s.schemaUrl ? { schemaUrl: s.schemaUrl } : {}) })),
    spans: records,
  }
}

function spanContext(c: Context): SpanContext {
  const { traceState, ...rest } = c
  return traceState === undefined ? rest : { ...rest, traceState: { serialize: () => traceState } as SpanContext['traceState'] & object }
}

/** The batch as the spans an exporter reads (the parts of ReadableSpan the OTLP serializers use). */
export function fromBatch(batch: SpanBatch): ReadableSpan[] {
  const resource = batch.resource as ReadableSpan['resource']
  return batch.spans.map((r): ReadableSpan => {
    const context = spanContext(r.context)
    return {
      name: r.name, kind: r.kind, spanContext: () => context, ...(r.parent ? { parentSpanContext: spanContext(r.parent) } : {}),
      startTime: r.startTime, endTime: r.endTime, duration: [r.endTime[0] - r.startTime[0], r.endTime[1] - r.startTime[1]], ended: true,
      status: r.status, attributes: r.attributes, links: r.links.map((l): Link => ({ ...l, context: spanContext(l.context) })), events: r.events,
      resource, instrumentationScope: batch.scopes[r.scope]!,
      droppedAttributesCount: r.dropped[0], droppedEventsCount: r.dropped[1], droppedLinksCount: r.dropped[2],
    }
  })
}
