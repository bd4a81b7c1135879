// The SDK's own messages as log lines (as conditions, never one per batch), export failures, and a
// shutdown that does not wait forever for a collector that does not answer.
import { diag } from '@opentelemetry/api'
import t from 'tap'
import { startRequestSpan } from '../../src/telemetry/spans.ts'
import { batchSettings, resourceFromEnv, samplerFromEnv, startTracing, type Tracing, type TracingOptions } from '../../src/telemetry/tracing.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { OtlpReceiver, tracingEnv } from '../helpers/otlp-receiver.ts'

/** Starts tracing with `env` added to process.env (which the SDK reads), both undone after the test. */
async function traced(t: { teardown(fn: () => unknown): void }, env: Record<string, string>, o: TracingOptions = {}): Promise<{ tracing: Tracing, logs: string[] }> {
  const saved = { ...process.env }
  Object.assign(process.env, env)
  const { logs, log } = captureLog('debug')
  const tracing = await startTracing(log, o)
  t.teardown(async () => {
    await tracing.shutdown()
    process.env = saved
  })
  return { tracing, logs }
}

const lines = (logs: string[]) => logs.map(l => JSON.parse(l) as { level: number, msg: string, error?: string })

t.test('OpenTelemetry\'s warnings and errors are log lines; its debug output is debug lines', async t => {
  const receiver = await OtlpReceiver.start(t)
  const { tracing, logs } = await traced(t, tracingEnv(receiver, { OTEL_LOG_LEVEL: 'debug', OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_EXPORTER: 'otlp,carrier-pigeon' }))
  t.equal(tracing.destination, `otlp ${receiver.url}, carrier-pigeon`)
  const logged = lines(logs)
  t.ok(logged.some(l => l.level === 30 && l.msg === `tracing on: spans go to otlp ${receiver.url}, carrier-pigeon`))
  t.ok(logged.some(l => l.level === 40 && /^tracing: Unrecognized OTEL_TRACES_EXPORTER value: carrier-pigeon/.test(l.msg)), 'a warning')
  t.ok(logged.some(l => l.level === 40 && l.msg.startsWith('tracing: OpenTelemetry reported an error') && /unknown OTEL_TRACES_SAMPLER value "sometimes"/.test(l.error!)), 'an error, with what it said')
  t.ok(logged.some(l => l.level === 20 && l.msg.startsWith('tracing: ')), 'debug output at debug level')
  t.notOk(logged.some(l => l.msg.includes('OTEL_TRACES_EXPORTER is empty')), 'messages are dualread log lines, not console output')
  // Repeats (one warning on every batch while spans are dropped) are counted, and summed up on stop.
  diag.warn('Dropped 5 spans because maxQueueSize reached')
  diag.warn('Dropped 7 spans because maxQueueSize reached')
  diag.error('another error')
  const before = logs.length
  await tracing.shutdown()
  const stopped = lines(logs.slice(before)).map(l => l.msg)
  t.ok(stopped.some(m => /^tracing: 1 more such warnings from OpenTelemetry \(last [\d.]+ s\)$/.test(m)), 'two drop warnings are one condition')
  t.ok(stopped.some(m => /^tracing: 1 more errors from OpenTelemetry/.test(m)))
  t.equal(lines(logs).filter(l => l.msg.startsWith('tracing: Dropped')).length, 1)
})

t.test('a collector that refuses an export is logged once, and spans keep flowing after', async t => {
  const receiver = await OtlpReceiver.start(t)
  receiver.answers = [400]
  const { logs } = await traced(t, tracingEnv(receiver, { OTEL_TRACES_EXPORTER: 'otlp' }))
  const first = startRequestSpan({}, 'GET', '/first')!
  first.span.end()
  const refused = (l: ReturnType<typeof lines>) => l.filter(x => x.msg.startsWith('tracing: OpenTelemetry reported an error') && /Bad Request/.test(x.error!))
  // The export worker starts first (seconds, on a loaded machine under coverage).
  t.equal(refused(await eventually(() => lines(logs), l => refused(l).length > 0, 20_000)).length, 1, 'with the collector\'s answer')
  startRequestSpan({}, 'GET', '/second')!.span.end()
  const spans = await receiver.waitFor(s => s.length > 0)
  t.same(spans.map(s => s.name), ['GET /second'], 'the refused batch is dropped, the next one arrives')
})

t.test('stopping waits a bounded time for a collector that does not answer', async t => {
  const receiver = await OtlpReceiver.start(t)
  receiver.answers = ['hang']
  const { tracing, logs } = await traced(t, tracingEnv(receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_EXPORTER_OTLP_TIMEOUT: '300' }), { shutdownTimeoutMs: 50 })
  startRequestSpan({}, 'GET', '/x')!.span.end()
  await tracing.shutdown()
  t.ok(lines(logs).some(l => l.level === 40 && l.msg === 'tracing: the last spans were not exported within 50 ms; they are dropped'))
  t.equal(startRequestSpan({}, 'GET', '/y'), undefined, 'no spans once stopped')
})

t.test('the sampler is the one OTEL_TRACES_SAMPLER names, by the SDK\'s names; a bad one or a bad ratio is said and replaced', async t => {
  const errors: string[] = []
  const ignore = () => {}
  diag.setLogger({ error: m => { errors.push(m) }, warn: ignore, info: ignore, debug: ignore, verbose: ignore }, { suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const named = async (env: Record<string, string>) => String(await samplerFromEnv(env))
  t.equal(await named({}), 'ParentBased{root=AlwaysOnSampler, remoteParentSampled=AlwaysOnSampler, remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}')
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }), await named({}))
  t.equal(await named({ OTEL_TRACES_SAMPLER: ' always_on ' }), 'AlwaysOnSampler')
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'always_off' }), 'AlwaysOffSampler')
  t.match(await named({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }), /^ParentBased\{root=AlwaysOffSampler/)
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }), 'TraceIdRatioBased{0.25}')
  t.match(await named({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }), /^ParentBased\{root=TraceIdRatioBased\{0.1\}/)
  t.same(errors, [])
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'traceidratio' }), 'TraceIdRatioBased{1}')
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }), 'TraceIdRatioBased{1}')
  t.equal(await named({ OTEL_TRACES_SAMPLER: 'sometimes' }), await named({}))
  t.same(errors, [
    'OTEL_TRACES_SAMPLER_ARG is blank, defaulting to 1.',
    'OTEL_TRACES_SAMPLER_ARG=2 was given, but it is out of range ([0..1]), defaulting to 1.',
    'unknown OTEL_TRACES_SAMPLER value "sometimes", using default',
  ])
})

t.test('the resource: service.name dualread unless the environment names another, and the detectors OTEL_NODE_RESOURCE_DETECTORS names', async t => {
  const warnings: string[] = []
  const ignore = () => {}
  diag.setLogger({ error: ignore, warn: m => { warnings.push(m) }, info: ignore, debug: ignore, verbose: ignore }, { suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  const saved = { ...process.env }
  t.teardown(() => { process.env = saved })
  const all = (await resourceFromEnv({})).attributes
  t.equal(all['service.name'], 'dualread')
  t.ok(all['host.name'] && all['process.pid'] && all['os.type'], 'host, process and os by default')
  t.equal((await resourceFromEnv({ OTEL_NODE_RESOURCE_DETECTORS: 'all' })).attributes['host.name'], all['host.name'])
  const none = (await resourceFromEnv({ OTEL_NODE_RESOURCE_DETECTORS: 'none' })).attributes
  t.same([none['service.name'], none['host.name'], none['process.pid']], ['dualread', undefined, undefined])
  const some = (await resourceFromEnv({ OTEL_NODE_RESOURCE_DETECTORS: 'process, nonsense' })).attributes
  t.same([some['host.name'], some['process.pid']], [undefined, process.pid])
  t.same(warnings, ['Invalid resource detector "nonsense" specified in the environment variable OTEL_NODE_RESOURCE_DETECTORS'])
  // The env detector reads process.env itself, as the SDK's does.
  process.env['OTEL_SERVICE_NAME'] = 'alerting-sidecar'
  process.env['OTEL_RESOURCE_ATTRIBUTES'] = 'deployment.environment.name=staging'
  const named = (await resourceFromEnv({ OTEL_NODE_RESOURCE_DETECTORS: 'env' })).attributes
  t.same([named['service.name'], named['deployment.environment.name']], ['alerting-sidecar', 'staging'])
})

t.test('batching settings: the OTEL_BSP_* numbers the SDK reads, each left at its default when it is not finite, or a size under 1', async t => {
  const read = (values: Record<string, number>) => (name: string) => values[name]
  t.same(batchSettings(read({ OTEL_BSP_MAX_QUEUE_SIZE: 100, OTEL_BSP_SCHEDULE_DELAY: 0, OTEL_BSP_EXPORT_TIMEOUT: 50, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 10 })),
    { maxQueueSize: 100, scheduledDelayMillis: 0, exportTimeoutMillis: 50, maxExportBatchSize: 10 })
  t.same(batchSettings(read({ OTEL_BSP_MAX_QUEUE_SIZE: Infinity, OTEL_BSP_SCHEDULE_DELAY: -1, OTEL_BSP_EXPORT_TIMEOUT: Number.NaN, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 0 })), {})
  t.same(batchSettings(read({})), {}, 'unset: the defaults (512 a batch, 2,048 queued, 5 s, 30 s)')
})
