// Spans made by dualread's recorder (src/telemetry/recorder.ts) with a processor that keeps them,
// as the batch processor would hand them to the export worker's client.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api'
import { TraceState } from '@opentelemetry/core'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import { AlwaysOnSampler, type ReadableSpan, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace'
import { clockOrigin, recordOf, RecordingTracer } from '../../src/telemetry/recorder.ts'
import type { SpanBatch, SpanRecord, SpanSource } from '../../src/telemetry/span-record.ts'

export const RESOURCE = resourceFromAttributes({ 'service.name': 'dualread', 'host.name': 'h1', 'process.pid': 4242 })
export const SOURCE: SpanSource = { resource: { attributes: RESOURCE.attributes }, scope: { name: 'dualread' } }

/** A processor that keeps every span it is given at its end. */
export class Keeping implements SpanProcessor {
  readonly ended: ReadableSpan[] = []
  onStart(): void {}
  onEnd(span: ReadableSpan): void { this.ended.push(span) }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export function recorder(o: { sampler?: Sampler, resource?: Resource } = {}): { tracer: RecordingTracer, kept: Keeping, batch(): SpanBatch } {
  const kept = new Keeping()
  const tracer = new RecordingTracer(o.sampler ?? new AlwaysOnSampler(), kept, o.resource ?? RESOURCE)
  return { tracer, kept, batch: () => ({ origin: clockOrigin(), spans: kept.ended.map(recordOf) }) }
}

/** A server span continuing a remote trace, its client child with a link and an event, and a root span. */
export function someSpans(tracer: Tracer): void {
  const remote = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true, traceState: new TraceState('vendor=a') }
  const server = tracer.startSpan('GET /api/v1/tenants/:tenant/alert-rules/:id', { kind: SpanKind.SERVER, attributes: { 'dualread.rule': 'default', 'http.response.status_code': 200, 'dualread.fallback': false } }, trace.setSpanContext(ROOT_CONTEXT, remote))
  const client = tracer.startSpan('upstream old', { kind: SpanKind.CLIENT, links: [{ context: remote, attributes: { why: 'caused by' } }] }, trace.setSpan(ROOT_CONTEXT, server))
  client.addEvent('retry', { attempt: 2 })
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'old answered 503' })
  client.end()
  server.end()
  tracer.startSpan('sync apply', { root: true }).end()
}

/** A server span's record (span-record.ts), with the fields `over` names (by index) replaced. */
export function span(over: Partial<Record<number, unknown>> = {}): SpanRecord {
  const base: SpanRecord = [
    'GET /api/v1/tenants/:tenant/alert-rules/:id', SpanKind.SERVER, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 1, undefined,
    '', false, 1234.5678, 1240.125, SpanStatusCode.UNSET, undefined, { 'dualread.rule': 'default', 'http.response.status_code': 200, 'dualread.fallback': false }, 0, 0,
  ]
  for (const [i, v] of Object.entries(over)) (base as unknown[])[Number(i)] = v
  return base
}
