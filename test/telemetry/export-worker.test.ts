// The OTLP export worker (src/telemetry/export-worker*.ts, span-record.ts): the recorder's spans
// cross to it as plain data and are encoded there exactly as the SDK's exporters encode spans.
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import t from 'tap'
import { answer, diagToParent, otlpExporter, otlpProtocol, type FromWorker, type OtlpProtocol } from '../../src/telemetry/export-worker.ts'
import { ExportWorker } from '../../src/telemetry/export-worker-client.ts'
import { clockOrigin, recordOf } from '../../src/telemetry/recorder.ts'
import { SpanPacker } from '../../src/telemetry/span-packing.ts'
import { fromBatch, type SpanBatch } from '../../src/telemetry/span-record.ts'
import { OtlpReceiver, tracingEnv } from '../helpers/otlp-receiver.ts'
import { recorder, someSpans, SOURCE } from '../helpers/recorded-spans.ts'

/** A diag logger that keeps the messages of one level. */
function keeping(level: keyof DiagLogger, into: string[]): DiagLogger {
  const ignore = () => {}
  return { error: ignore, warn: ignore, info: ignore, debug: ignore, verbose: ignore, [level]: (m: string) => { into.push(m) } }
}

/** The recorder's spans of someSpans(), as the batch processor hands them to the exporter. */
function recordedSpans(): ReadableSpan[] {
  const { tracer, kept } = recorder()
  someSpans(tracer)
  return kept.ended
}

t.test('the protocol is the one the OTLP protocol variables name, as the Node SDK reads them', async t => {
  const warnings: string[] = []
  diag.setLogger(keeping('warn', warnings), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const table: Array<[Record<string, string>, OtlpProtocol]> = [
    [{}, 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'grpc'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ' http/json ' }, 'http/json'],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, 'http/protobuf'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' }, 'http/protobuf'],
  ]
  for (const [env, protocol] of table) t.equal(otlpProtocol(env), protocol, JSON.stringify(env))
  t.same(warnings, ['Unsupported OTLP traces protocol: "carrier-pigeon". Using http/protobuf.'])
})

const exportBatch = (protocol: OtlpProtocol, batch: SpanBatch) => otlpExporter(SOURCE, protocol).then(exporter =>
  new Promise<ExportResult>(resolve => exporter.export(batch, resolve)).finally(() => exporter.shutdown()))

t.test('each protocol sends what the SDK\'s serializer of that protocol writes for the same spans', async t => {
  const receiver = await OtlpReceiver.start(t)
  const saved = { ...process.env }
  process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.url
  t.teardown(() => { process.env = saved })
  const { tracer, batch } = recorder()
  someSpans(tracer)
  const b = structuredClone(batch()) // as postMessage copies it
  t.equal((await exportBatch('http/protobuf', b)).code, ExportResultCode.SUCCESS)
  t.same(receiver.protobuf, [Buffer.from(ProtobufTraceSerializer.serializeRequest(fromBatch(b, SOURCE))!)], 'http/protobuf: byte for byte')
  t.equal((await exportBatch('http/json', b)).code, ExportResultCode.SUCCESS)
  t.same(receiver.spans.map(s => s.name), JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(fromBatch(b, SOURCE))!).toString()).resourceSpans[0].scopeSpans[0].spans.map((s: { name: string }) => s.name))
  // No gRPC collector here: the SDK's gRPC exporter is given the spans, and says it could not send them.
  process.env['OTEL_EXPORTER_OTLP_TIMEOUT'] = '200'
  t.equal((await exportBatch('grpc', b)).code, ExportResultCode.FAILED)
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

/** The spans packed as the processor packs them, and sent (one packer per worker: the string table is theirs). */
const packers = new WeakMap<ExportWorker, SpanPacker>()
function exportThrough(worker: ExportWorker, spans: ReadableSpan[]) {
  const packer = packers.get(worker) ?? new SpanPacker()
  packers.set(worker, packer)
  for (const span of spans) packer.add(recordOf(span))
  return worker.send(packer.take(clockOrigin()))
}

t.test('spans exported through the worker reach the collector; once stopped, exports fail at once', async t => {
  const receiver = await OtlpReceiver.start(t)
  const saved = { ...process.env }
  Object.assign(process.env, tracingEnv(receiver))
  t.teardown(() => { process.env = saved })
  const exporter = new ExportWorker(SOURCE)
  t.same(await exportThrough(exporter, recordedSpans()), { ok: true })
  const arrived = await receiver.waitFor(s => s.length === 3)
  t.same(arrived.map(s => s.name).sort(), ['GET /api/v1/tenants/:tenant/alert-rules/:id', 'sync apply', 'upstream old'])
  receiver.answers = [400]
  t.match(await exportThrough(exporter, recordedSpans()), { ok: false, error: /Bad Request/ }, "failed, with the collector's answer")
  await exporter.shutdown()
  t.same(await exportThrough(exporter, recordedSpans()), { ok: false, error: 'the trace exporter is stopped' })
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
    const exporter = new ExportWorker(SOURCE, level)
    t.same(await exportThrough(exporter, recordedSpans()), { ok: true })
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
  const exporter = new ExportWorker(SOURCE, DiagLogLevel.WARN, new URL('../fixtures/failing-export-worker.ts', import.meta.url))
  // The worker never keeps a process alive; a proxy's server does, this timer stands in for it.
  const alive = setInterval(() => {}, 1000)
  const result = await exportThrough(exporter, recordedSpans())
  clearInterval(alive)
  t.same(result, { ok: false, error: 'the worker broke' })
  t.same(errors, ['the trace export worker stopped: the worker broke'])
  t.same(await exportThrough(exporter, recordedSpans()), { ok: false, error: 'the worker broke' }, 'every later batch fails at once, not after its timeout')
  await exporter.shutdown()
})

t.test('a batch that cannot cross to the worker stops it: the worker could not read the batches after it', async t => {
  const errors: string[] = []
  diag.setLogger(keeping('error', errors), { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const exporter = new ExportWorker(SOURCE)
  const packer = new SpanPacker()
  // A value no structured clone takes, beside the buffer (the recorder lets none through: see recorder.test.ts).
  const broken = { ...packer.take(clockOrigin()), side: [() => {}] }
  t.match(await exporter.send(broken), { ok: false, error: /could not be sent to the trace export worker: .*could not be cloned/ })
  t.match(errors, [/could not be sent to the trace export worker: .*; no more spans are exported$/])
  t.match(await exportThrough(exporter, recordedSpans()), { ok: false, error: /could not be sent/ }, 'and so is every later one')
  await exporter.shutdown()
})
