// dualread's recorder (src/telemetry/recorder.ts) against the SDK's own tracer as the oracle: the
// same calls make spans that read the same (names, kinds, parents, attributes, links, events,
// status, times), and the same sampling decisions.
import { randomFillSync } from 'node:crypto'
import {
  defaultTextMapSetter, diag, DiagLogLevel, propagation, ROOT_CONTEXT, SamplingDecision, SpanKind, SpanStatusCode, trace, TraceFlags,
  type Context, type DiagLogger, type Tracer,
} from '@opentelemetry/api'
import { hrTimeToMilliseconds, suppressTracing, TraceState, W3CTraceContextPropagator } from '@opentelemetry/core'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type Sampler } from '@opentelemetry/sdk-trace'
import t from 'tap'
import { injectRecorded } from '../../src/telemetry/recorder.ts'
import { PooledIdGenerator } from '../../src/telemetry/span-ids.ts'
import { fromBatch } from '../../src/telemetry/span-record.ts'
import { RESOURCE, recorder, SOURCE } from '../helpers/recorded-spans.ts'

const REMOTE = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true, traceState: new TraceState('vendor=a') }

/** What diag was told while `fn` ran, by level. */
function told(fn: () => void): { warn: string[], error: string[] } {
  const said = { warn: [] as string[], error: [] as string[] }
  const ignore = () => {}
  const logger: DiagLogger = { error: m => { said.error.push(m) }, warn: m => { said.warn.push(m) }, info: ignore, debug: ignore, verbose: ignore }
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true })
  try {
    fn()
  } finally {
    diag.disable()
  }
  return said
}

const BOOM = new Error('boom')
const RESET = Object.assign(new Error('reset'), { code: 'ECONNRESET' })

/** Every call of the API a span can be given, in and out of order. */
function everything(tracer: Tracer): void {
  const server = tracer.startSpan('server', { kind: SpanKind.SERVER, attributes: { a: 'x', n: 1 } }, trace.setSpanContext(ROOT_CONTEXT, REMOTE))
  server.setAttribute('b', true).setAttribute('bad2', undefined as never).setAttributes({ c: [1, 2], d: 'y' })
  server.addEvent('plain').addEvent('with attributes', { e: 1 }).addEvent('at a time', Date.now()).addEvent('with both', { f: 2 }, new Date())
  server.addLink({ context: REMOTE, attributes: { g: 'h' } }).addLinks([{ context: { ...REMOTE, isRemote: false, traceState: undefined } }])
  server.setStatus({ code: SpanStatusCode.UNSET }).setStatus({ code: SpanStatusCode.ERROR, message: 'bad' })
  server.updateName('server, renamed')
  server.recordException(BOOM)
  server.recordException(RESET)
  server.recordException('a string')
  server.recordException({} as never)
  const child = tracer.startSpan('child', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server))
  child.setStatus({ code: SpanStatusCode.OK }).setStatus({ code: SpanStatusCode.ERROR, message: 'too late: OK is final' })
  child.end()
  tracer.startSpan('odd message').setStatus({ code: SpanStatusCode.ERROR, message: 5 as never }).end()
  server.end()
  server.setAttribute('late', 1).setAttributes({ late: 2 }).addEvent('late').addLink({ context: REMOTE }).updateName('late').setStatus({ code: SpanStatusCode.OK })
  server.end()
  tracer.startSpan('root', { root: true }, trace.setSpan(ROOT_CONTEXT, server)).end()
  tracer.startActiveSpan('active', s => s.end())
  tracer.startActiveSpan('active with options', { kind: SpanKind.PRODUCER }, s => s.end())
  tracer.startActiveSpan('active in a context', {}, trace.setSpan(ROOT_CONTEXT, server), s => s.end())
  tracer.startSpan('suppressed', {}, suppressTracing(ROOT_CONTEXT)).end()
}

/** A span as the two tracers can be compared: everything but ids and times. */
function readable(s: ReadableSpan) {
  return {
    name: s.name, kind: s.kind, sampled: s.spanContext().traceFlags, traceState: s.spanContext().traceState?.serialize(),
    parent: s.parentSpanContext && { spanId: s.parentSpanContext.spanId === REMOTE.spanId ? 'remote' : 'local', isRemote: s.parentSpanContext.isRemote === true },
    inRemoteTrace: s.spanContext().traceId === REMOTE.traceId,
    attributes: s.attributes, status: s.status.message === undefined ? { code: s.status.code } : s.status,
    links: s.links.map(l => ({ spanId: l.context.spanId, isRemote: l.context.isRemote === true, traceState: l.context.traceState?.serialize(), attributes: l.attributes ?? {} })),
    events: s.events.map(e => ({ name: e.name, attributes: e.attributes ?? {} })),
  }
}

function sdk(sampler?: Sampler) {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ resource: RESOURCE, spanProcessors: [new SimpleSpanProcessor({ exporter })], ...(sampler ? { sampler } : {}) })
  return { tracer: provider.getTracer('dualread'), spans: () => exporter.getFinishedSpans() }
}

t.test("the recorder's spans read as the SDK's for the same calls", async t => {
  const oracle = sdk()
  const expectedSaid = told(() => everything(oracle.tracer))
  const { tracer, batch } = recorder()
  const said = told(() => everything(tracer))
  const recorded = fromBatch(structuredClone(batch()), SOURCE)
  t.same(recorded.map(s => s.name), ['child', 'odd message', 'server, renamed', 'root', 'active', 'active with options', 'active in a context'], 'every span but the suppressed one')
  t.same(recorded.map(readable), oracle.spans().map(readable))
  t.same(recorded.map(s => s.resource.attributes), recorded.map(() => RESOURCE.attributes))
  t.equal(said.error.length, 1, 'a second end is an error')
  t.match(said.error[0], /^server, renamed [0-9a-f]{32}-[0-9a-f]{16} - You can only call end\(\) on a span once\.$/)
  t.same(said.warn.filter(w => w.startsWith('Invalid attribute value')), ['Invalid attribute value set for key: bad2'])
  t.ok(said.warn.some(w => w.startsWith('Failed to record an exception')))
  t.ok(expectedSaid.error.length === 1 && expectedSaid.warn.some(w => w.startsWith('Failed to record an exception')), 'as the SDK says')
})

t.test('an attribute value the API does not allow is left out, with a warning', async t => {
  const { tracer, batch } = recorder()
  const link = { context: REMOTE, attributes: { fine: 1, fn: (() => {}) as never } }
  const said = told(() => tracer.startSpan('x', { attributes: { ok: 'yes', bad: {} as never }, links: [link] }).end())
  const [span] = fromBatch(batch(), SOURCE)
  t.same(span!.attributes, { ok: 'yes' })
  t.same(span!.links[0]!.attributes, { fine: 1 }, "a link's too: all of it crosses to the export worker")
  t.same(said.warn, ['Invalid attribute value set for key: bad', 'Invalid attribute value set for key: fn'])
})

t.test('times: now by default, or the time given in any form the API takes', async t => {
  const { tracer, batch } = recorder()
  const oracle = sdk()
  const epoch = Date.now() - 1000
  const times = [
    { startTime: performance.now() - 500 }, // on the monotonic clock
    { startTime: epoch }, // Unix milliseconds
    { startTime: new Date(epoch) },
    { startTime: [Math.floor(epoch / 1000), (epoch % 1000) * 1e6] as [number, number] },
  ]
  for (const tr of [tracer, oracle.tracer]) for (const [i, o] of times.entries()) tr.startSpan(`span ${i}`, o).end(epoch + 800)
  const recorded = fromBatch(batch(), SOURCE)
  for (const [i, s] of oracle.spans().entries()) {
    const r = recorded[i]!
    t.ok(Math.abs(hrTimeToMilliseconds(r.startTime) - hrTimeToMilliseconds(s.startTime)) < 5, `${s.name}: start`)
    t.ok(Math.abs(hrTimeToMilliseconds(r.endTime) - hrTimeToMilliseconds(s.endTime)) < 5, `${s.name}: end`)
    t.ok(Math.abs(hrTimeToMilliseconds(r.duration) - hrTimeToMilliseconds(s.duration)) < 5, `${s.name}: duration`)
  }
  const before = Date.now()
  const now = tracer.startSpan('now')
  now.addEvent('now')
  now.end()
  const [span] = fromBatch(batch(), SOURCE).slice(-1)
  t.ok(hrTimeToMilliseconds(span!.startTime) >= before - 5 && hrTimeToMilliseconds(span!.endTime) <= Date.now() + 5, 'by default, now')
  t.ok(hrTimeToMilliseconds(span!.events[0]!.time) >= hrTimeToMilliseconds(span!.startTime))
})

t.test("the sampler decides, as in the SDK: nothing, a span that is not exported, or one that is, with the sampler's attributes and trace state", async t => {
  const decide = (decision: SamplingDecision, extra: { attributes?: Record<string, string>, traceState?: TraceState } = {}): Sampler => ({ shouldSample: () => ({ decision, ...extra }), toString: () => 'test' })
  const parent = trace.setSpanContext(ROOT_CONTEXT, REMOTE)

  const dropped = recorder({ sampler: decide(SamplingDecision.NOT_RECORD) })
  const nothing = dropped.tracer.startSpan('x', {}, parent)
  t.notOk(nothing.isRecording())
  t.same([nothing.spanContext().traceId, nothing.spanContext().traceFlags], [REMOTE.traceId, TraceFlags.NONE], 'a context to propagate, in the same trace')
  nothing.end()
  t.same(dropped.kept.ended, [])

  const only = recorder({ sampler: decide(SamplingDecision.RECORD) })
  const recording = only.tracer.startSpan('x', {}, parent)
  t.ok(recording.isRecording())
  recording.end()
  t.equal(only.kept.ended[0]!.spanContext().traceFlags, TraceFlags.NONE, 'recorded, not sampled: the batch processor leaves it out')
  t.equal(only.kept.ended[0]!.spanContext().traceState, REMOTE.traceState, "the parent's trace state")

  const sampled = recorder({ sampler: decide(SamplingDecision.RECORD_AND_SAMPLED, { attributes: { why: 'sampler' }, traceState: new TraceState('sampler=1') }) })
  sampled.tracer.startSpan('x', { attributes: { own: 'yes' } }, parent).end()
  const [span] = fromBatch(sampled.batch(), SOURCE)
  t.same(span!.attributes, { own: 'yes', why: 'sampler' })
  t.equal(span!.spanContext().traceState?.serialize(), 'sampler=1')
  t.equal(span!.spanContext().traceFlags, TraceFlags.SAMPLED)
})

t.test("a recorded span's W3C headers are written directly, as the W3C propagators write them; anything else is left to them", async t => {
  const w3c = new W3CTraceContextPropagator()
  const viaPropagator = (context: Context) => {
    const carrier: Record<string, string> = {}
    w3c.inject(context, carrier, defaultTextMapSetter)
    return carrier
  }
  const direct = (context: Context) => {
    const carrier: Record<string, unknown> = {}
    return injectRecorded(context, carrier) ? carrier : undefined
  }
  const sampled = recorder().tracer.startSpan('x', {}, trace.setSpanContext(ROOT_CONTEXT, REMOTE))
  const inTrace = trace.setSpan(ROOT_CONTEXT, sampled)
  t.same(direct(inTrace), viaPropagator(inTrace), 'sampled, with the trace state it continues')
  t.match(direct(inTrace), { traceparent: `00-${REMOTE.traceId}-${sampled.spanContext().spanId}-01`, tracestate: 'vendor=a' })
  const recordOnly = recorder({ sampler: { shouldSample: () => ({ decision: SamplingDecision.RECORD }), toString: () => 'record' } }).tracer.startSpan('x')
  const unsampled = trace.setSpan(ROOT_CONTEXT, recordOnly)
  t.same(direct(unsampled), viaPropagator(unsampled), 'recorded, not sampled: flags 00, no trace state')
  t.match(direct(unsampled), { traceparent: /-00$/ })
  const notRecorded = recorder({ sampler: { shouldSample: () => ({ decision: SamplingDecision.NOT_RECORD }), toString: () => 'none' } }).tracer
  const none = notRecorded.startSpan('x', {}, trace.setSpanContext(ROOT_CONTEXT, REMOTE))
  t.same(none.setAttribute('a', 1).setAttributes({ b: 2 }).addEvent('e').addLink({ context: REMOTE }).addLinks([]).setStatus({ code: SpanStatusCode.ERROR }).updateName('y'), none, 'not recorded: every call does nothing')
  none.recordException(BOOM)
  none.end()
  t.notOk(none.isRecording())
  const notSampled = trace.setSpan(ROOT_CONTEXT, none)
  t.same(direct(notSampled), viaPropagator(notSampled), 'not recorded at all: still the context, in the trace it continues')
  const child = notRecorded.startSpan('child', {}, notSampled)
  t.same([child.spanContext().traceId, child.spanContext().traceState], [REMOTE.traceId, REMOTE.traceState], "its child: the same trace, the parent's trace state")
  t.equal(direct(propagation.setBaggage(inTrace, propagation.createBaggage({ k: { value: 'v' } }))), undefined, 'baggage: the propagators write it')
  t.equal(direct(suppressTracing(inTrace)), undefined, 'suppressed: the propagators decide (they write nothing)')
  t.equal(direct(trace.setSpanContext(ROOT_CONTEXT, REMOTE)), undefined, "a span not recorded here (the client's)")
  t.equal(direct(ROOT_CONTEXT), undefined, 'no span')
})

t.test('ids are random hex of the W3C lengths, never all zeros, drawn from a pool that refills', async t => {
  const ids = new PooledIdGenerator(randomFillSync, 64)
  const traceIds = Array.from({ length: 100 }, () => ids.generateTraceId())
  const spanIds = Array.from({ length: 100 }, () => ids.generateSpanId())
  t.ok(traceIds.every(id => /^[0-9a-f]{32}$/.test(id)) && spanIds.every(id => /^[0-9a-f]{16}$/.test(id)))
  t.equal(new Set([...traceIds, ...spanIds]).size, 200, 'all different, across refills of the pool')
  // A source that gives zeros first: an all-zero id is invalid, so it is drawn again.
  let fills = 0
  const zerosFirst = new PooledIdGenerator(into => { into.fill(fills++ === 0 ? 0 : 0xab) }, 16)
  t.same([zerosFirst.generateSpanId(), zerosFirst.generateTraceId()], ['abababababababab', 'ab'.repeat(16)])
  const zeroThenOther = new PooledIdGenerator(into => { into.fill(0, 0, 8); into.fill(0x0c, 8) }, 16)
  t.equal(zeroThenOther.generateSpanId(), '0c0c0c0c0c0c0c0c', 'the zeros skipped within the pool')
})
