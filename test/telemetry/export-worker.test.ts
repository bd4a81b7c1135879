// The OTLP export worker (src/telemetry/export-worker*.ts, span-record.ts): spans cross to it as
// plain data and are encoded exactly as the SDK's exporter would have encoded them there.
import { diag, DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type DiagLogger } from '@opentelemetry/api'
import { ExportResultCode, TraceState, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace'
import t from 'tap'
import { answer, diagToParent, otlpExporter, type FromWorker } from '../../src/telemetry/export-worker.ts'
import { WorkerSpanExporter } from '../../src/telemetry/export-worker-client.ts'
import { fromBatch, toBatch } from '../../src/telemetry/span-record.ts'
import { OtlpReceiver, tracingEnv } from '../helpers/otlp-receiver.ts'

/** A diag logger that keeps the messages of one level. */
function keeping(level: keyof DiagLogger, into: string[]): DiagLogger {
  const ignore = () => {}
  return { error: ignore, warn: ignore, info: ignore, debug: ignore, verbose: ignore, [level]: (m: string) => { into.push(m) } }
}

/** Real SDK spans: a server span, its client child with a link and an event, one from a second scope. */
function sdkSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter()
  const resource = resourceFromAttributes({ 'service.name': 'dualread', 'host.name': 'h1' })
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] })
  const tracer = provider.getTracer('dualread', '1.2.3')
  const remote = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true, traceState: new TraceState('vendor=a') }
  const server = tracer.startSpan('GET /api/v1/tenants/:tenant/alert-rules/:id', { kind: SpanKind.SERVER, attributes: { 'dualread.rule': 'default', 'http.response.status_code': 200, 'dualread.fallback': false } }, trace.setSpanContext(ROOT_CONTEXT, remote))
  const client = tracer.startSpan('upstream old', { kind: SpanKind.CLIENT, links: [{ context: remote, attributes: { why: 'caused by' } }] }, trace.setSpan(ROOT_CONTEXT, server))
  client.addEvent('retry', { attempt: 2 })
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'old answered 503' })
  client.end()
  server.end()
  const other = provider.getTracer('sync', undefined, { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' }).startSpan('sync apply', { root: true })
  other.end()
  return memory.getFinishedSpans()
}

t.test('a batch as plain data encodes byte for byte as the SDK spans it came from, protobuf and JSON', async t => {
  const spans = sdkSpans()
  t.equal(spans.length, 3)
  // As postMessage copies it.
  const crossed = fromBatch(structuredClone(toBatch(spans)))
  t.same(Buffer.from(ProtobufTraceSerializer.serializeRequest(crossed)!), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!))
  t.same(Buffer.from(JsonTraceSerializer.serializeRequest(crossed)!).toString(), Buffer.from(JsonTraceSerializer.serializeRequest(spans)!).toString())
  // A resource with a schema URL crosses with it.
  const schemaUrl = 'https://opentelemetry.io/schemas/1.30.0'
  const withSchema = resourceFromAttributes({ 'service.name': 'dualread' }, { schemaUrl })
  const batch = toBatch(spans.map(s => new Proxy(s, { get: (target, key) => key === 'resource' ? withSchema : Reflect.get(target, key) as unknown })))
  t.equal(fromBatch(batch)[0]!.resource.schemaUrl, schemaUrl)
  t.same(crossed[1]!.duration, spans[1]!.duration.map((_, i) => crossed[1]!.endTime[i]! - crossed[1]!.startTime[i]!), 'a duration from its start and end')
})

t.test('the exporter is the one the OTLP protocol variables name, as the Node SDK chooses it', async t => {
  const warnings: string[] = []
  diag.setLogger(keeping('warn', warnings), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const table: Array<[Record<string, string>, unknown]> = [
    [{}, ProtoExporter],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, GrpcExporter],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ' http/json ' }, JsonExporter],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, ProtoExporter],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' }, ProtoExporter],
  ]
  for (const [env, kind] of table) {
    const exporter = await otlpExporter(env)
    t.equal(exporter.constructor, kind, JSON.stringify(env))
    await exporter.shutdown()
  }
  t.same(warnings, ['Unsupported OTLP traces protocol: "carrier-pigeon". Using http/protobuf.'])
})

t.test("the worker's diagnostics reach the main thread as text", async t => {
  const sent: FromWorker[] = []
  const d = diagToParent(m => sent.push(m))
  d.error('export failed:', new Error('Bad Request'), 'status', { code: 400 })
  d.debug('items to be sent')
  t.same(sent, [{ diag: 'error', message: 'export failed: Bad Request status {"code":400}' }, { diag: 'debug', message: 'items to be sent' }])
})

t.test('an export result is told as success, or as failure with its error', async t => {
  t.same(answer(1, { code: ExportResultCode.SUCCESS }), { id: 1, ok: true })
  t.same(answer(2, { code: ExportResultCode.FAILED, error: new Error('Bad Request') }), { id: 2, ok: false, error: 'Bad Request' })
  t.same(answer(3, { code: ExportResultCode.FAILED }), { id: 3, ok: false, error: 'export failed' })
})

const exportThrough = (exporter: WorkerSpanExporter, spans: ReadableSpan[]) => new Promise<ExportResult>(resolve => exporter.export(spans, resolve))

t.test('spans exported through the worker reach the collector; once stopped, exports fail at once', async t => {
  const receiver = await OtlpReceiver.start(t)
  const saved = { ...process.env }
  Object.assign(process.env, tracingEnv(receiver))
  t.teardown(() => { process.env = saved })
  const exporter = new WorkerSpanExporter()
  t.equal((await exportThrough(exporter, sdkSpans())).code, ExportResultCode.SUCCESS)
  const arrived = await receiver.waitFor(s => s.length === 3)
  t.same(arrived.map(s => s.name).sort(), ['GET /api/v1/tenants/:tenant/alert-rules/:id', 'sync apply', 'upstream old'])
  receiver.answers = [400]
  const refused = await exportThrough(exporter, sdkSpans())
  t.equal(refused.code, ExportResultCode.FAILED)
  t.match(refused.error?.message, /Bad Request/, "with the collector's answer")
  await exporter.forceFlush()
  await exporter.shutdown()
  const late = await exportThrough(exporter, sdkSpans())
  t.same([late.code, late.error?.message], [ExportResultCode.FAILED, 'the trace exporter is stopped'])
})

t.test("the worker passes on the exporter's diagnostics down to the main thread's level, no further", async t => {
  const receiver = await OtlpReceiver.start(t)
  const saved = { ...process.env }
  Object.assign(process.env, tracingEnv(receiver))
  t.teardown(() => { process.env = saved })
  const debug: string[] = []
  diag.setLogger(keeping('debug', debug), { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const exportAt = async (level: DiagLogLevel) => {
    debug.length = 0
    const exporter = new WorkerSpanExporter(level)
    t.equal((await exportThrough(exporter, sdkSpans())).code, ExportResultCode.SUCCESS)
    await exporter.shutdown()
    return [...debug]
  }
  t.same(await exportAt(DiagLogLevel.WARN), [], 'at warn, not one debug line crosses (the exporter writes each batch into one)')
  t.ok((await exportAt(DiagLogLevel.ALL)).some(line => line.includes('sync apply')), 'asked for, the exporter\'s debug lines arrive')
})

t.test('a worker that dies fails the export it was given, and says so', async t => {
  const errors: string[] = []
  diag.setLogger(keeping('error', errors), { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const exporter = new WorkerSpanExporter(DiagLogLevel.WARN, new URL('../fixtures/failing-export-worker.ts', import.meta.url))
  // The worker never keeps a process alive; a proxy's server does, this timer stands in for it.
  const alive = setInterval(() => {}, 1000)
  const result = await exportThrough(exporter, sdkSpans())
  clearInterval(alive)
  t.same([result.code, result.error?.message], [ExportResultCode.FAILED, 'the worker broke'])
  t.same(errors, ['the trace export worker stopped: the worker broke'])
})
