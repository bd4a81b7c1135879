// Tracing stays off unless an OTEL_* variable asks for traces: the SDK is not even loaded, and the
// client's traceparent reaches the upstream untouched, as before tracing existed.
import { join } from 'node:path'
import t from 'tap'
import { startTracing, TRACING_OFF, tracingRequested } from '../../src/telemetry/tracing.ts'
import { writePolicy } from '../helpers/policy.ts'
import { startProcess } from '../helpers/process.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { startPair } from '../helpers/upstream.ts'
import { OtlpReceiver } from '../helpers/otlp-receiver.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const HOOK = join(import.meta.dirname, '../helpers/otel-modules.ts')
/** What the hook prints on exit (imported, it would hook this process too). */
const LOADED_LINE = 'opentelemetry packages loaded: '
/** What only a running tracer needs: none of it may load while tracing is off. */
const SDK_PACKAGES = ['@opentelemetry/sdk-node', '@opentelemetry/sdk-trace', '@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/otlp-exporter-base', '@opentelemetry/context-async-hooks']
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

t.test('what asks for traces: an OTLP endpoint or a traces exporter, unless disabled', async t => {
  t.equal(tracingRequested({}), undefined)
  t.equal(tracingRequested({ OTEL_SERVICE_NAME: 'dualread', OTEL_TRACES_SAMPLER: 'always_on', OTEL_BSP_SCHEDULE_DELAY: '10' }), undefined, 'other OTEL_* variables alone start nothing')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'otlp http://collector:4318')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:pw@collector/v1/traces?key=k' }), 'otlp https://collector/v1/traces', 'credentials in the URL are not repeated')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' }), 'otlp (an endpoint that is not a URL)')
  t.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' }), 'otlp (default endpoint)')
  t.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'console, otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), 'console, otlp http://c:4318')
  t.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), undefined, 'none wins over an endpoint')
  t.equal(tracingRequested({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), undefined, 'OTEL_SDK_DISABLED wins')
  t.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }), undefined, 'a blank endpoint is none')
  const { logs, log } = captureLog()
  t.equal(await startTracing(log, { env: { OTEL_SERVICE_NAME: 'dualread' } }), TRACING_OFF)
  t.same(logs, [], 'and says nothing')
})

/** This process's environment without any OTEL_* variable (a developer's shell may set some). */
function withoutOtel(extra: Record<string, string>): Record<string, string | undefined> {
  return { ...Object.fromEntries(Object.keys(process.env).filter(k => k.startsWith('OTEL_')).map(k => [k, undefined])), ...extra }
}

t.test('without an endpoint the proxy loads no tracing SDK and passes traceparent through; with one it does', async t => {
  const receiver = await OtlpReceiver.start(t)
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const policy = writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url })
  const run = async (env: Record<string, string | undefined>) => {
    const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir], env, undefined, ['--import', HOOK])
    t.teardown(() => p.kill())
    const { proxy } = await p.listening
    t.equal((await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`, { headers: { traceparent: TRACEPARENT } })).status, 200)
    p.child.kill('SIGTERM')
    t.equal((await p.exited)[0], 0)
    const { stdout, stderr } = p.output()
    // Each thread prints its own line (worker threads inherit the hook), in no fixed order.
    const lines = stderr.split('\n').filter(l => l.startsWith(LOADED_LINE))
    t.ok(lines.length > 0, 'the hook reported')
    const loaded = [...new Set(lines.flatMap(l => JSON.parse(l.slice(LOADED_LINE.length)) as string[]))]
    return { stdout, loaded, seen: oldUp.reads().at(-1)!.headers.traceparent }
  }

  const off = await run(withoutOtel({ OTEL_SERVICE_NAME: 'dualread', OTEL_TRACES_SAMPLER: 'always_on' }))
  t.same(off.loaded.filter(p => SDK_PACKAGES.includes(p)), [], 'no tracing SDK package was loaded')
  t.notMatch(off.stdout, /tracing on/)
  t.equal(off.seen, TRACEPARENT, 'the client\'s traceparent reached the upstream unchanged')
  t.same(receiver.spans, [])

  const on = await run(withoutOtel({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }))
  t.ok(on.loaded.includes('@opentelemetry/sdk-node'), 'the same process with an endpoint loads the SDK (so the check above can fail)')
  t.match(on.stdout, /tracing on/)
  t.not(on.seen, TRACEPARENT, 'and sends the upstream its own child context')
  t.equal(String(on.seen).split('-')[1], TRACEPARENT.split('-')[1], 'in the client\'s trace')
  t.equal(receiver.protobuf.length, 1, 'the default protocol is OTLP/HTTP protobuf')
  t.same(receiver.unreadable, [])
})
