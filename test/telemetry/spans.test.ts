// The span vocabulary (src/telemetry/spans.ts) against the real tracing SDK with an in-memory
// exporter: names, attributes, parents, links, and nothing at all while tracing is off.
import { defaultTextMapSetter, propagation, SpanKind, SpanStatusCode, trace, type TextMapPropagator } from '@opentelemetry/api'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { AlwaysOffSampler, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace'
import t from 'tap'
import {
  ATTR, enableSpans, endShadowSpan, endWith, errorType, recordDecision, startApplySpan, startCutoverTrace, startRequestSpan,
  startShadowSpan, startUpstreamSpan, traceComparison, traceparentOf, withTraceContext, WriteLinks,
} from '../../src/telemetry/spans.ts'
import { injectRecorded } from '../../src/telemetry/recorder.ts'
import { recorder } from '../helpers/recorded-spans.ts'

const CLIENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

function tracer(o: { sampled?: boolean } = {}) {
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })], ...(o.sampled === false ? { sampler: new AlwaysOffSampler() } : {}) })
  const w3c = new W3CTraceContextPropagator()
  propagation.setGlobalPropagator(w3c)
  enableSpans({ tracer: provider.getTracer('test'), w3c })
  return { finished: (): ReadableSpan[] => exporter.getFinishedSpans(), off: () => { enableSpans(undefined); propagation.disable() } }
}

t.test('while tracing is off, nothing is started and nothing is remembered', async t => {
  t.equal(startRequestSpan({ traceparent: CLIENT }, 'GET', '/x'), undefined)
  t.equal(startShadowSpan(undefined, 'new'), undefined)
  t.equal(startApplySpan('alert-rule', 'old', 'new', []), undefined)
  endShadowSpan(undefined, { result: 'match' })
  t.same(await traceComparison(undefined, async () => ({ result: 'match', pointers: [] })), { result: 'match', pointers: [] })
  const links = new WriteLinks()
  links.note('k', CLIENT)
  t.same(links.take('k'), [], 'a write is not remembered')
  const cutover = startCutoverTrace('run1', 'old', 'new', 'file')
  cutover.step('precheck')
  cutover.end('switched')
})

t.test('a request span continues the client\'s trace and carries the decision; a 5xx is an error', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  const named = startRequestSpan({ traceparent: CLIENT }, 'GET', '/api/v1/tenants/:tenant/alert-rules/:id')!
  recordDecision(named.span, 'default', 'alert-rule', 'new', 'fallback', 200)
  named.span.end()
  const bare = startRequestSpan({}, 'OPTIONS', undefined)!
  recordDecision(bare.span, '(none)', '(none)', 'old', 'passthrough', 502)
  bare.span.end()
  const [a, b] = finished()
  t.match(a, { name: 'GET /api/v1/tenants/:tenant/alert-rules/:id', parentSpanContext: { spanId: '00f067aa0ba902b7' }, status: { code: SpanStatusCode.UNSET } })
  t.equal(a!.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.same(a!.attributes, { [ATTR.rule]: 'default', [ATTR.resourceType]: 'alert-rule', [ATTR.servedBy]: 'new', [ATTR.reason]: 'fallback', [ATTR.fallback]: true, [ATTR.status]: 200 })
  t.match(b, { name: 'OPTIONS', parentSpanContext: undefined, status: { code: SpanStatusCode.ERROR }, attributes: { [ATTR.errorType]: '502', [ATTR.fallback]: false } })
})

t.test('an upstream attempt is a client span; the upstream sees its context instead of the client\'s', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  const request = startRequestSpan({ traceparent: CLIENT, tracestate: 'vendor=1' }, 'GET', '/x')!
  const ok = startUpstreamSpan(request.context, 'old', 'primary')!
  const headers = withTraceContext({ traceparent: CLIENT, accept: 'application/json' }, ok.context)
  t.equal(headers['accept'], 'application/json')
  t.equal(headers['traceparent'], `00-4bf92f3577b34da6a3ce929d0e0e4736-${ok.span.spanContext().spanId}-01`)
  t.equal(headers['tracestate'], 'vendor=1', 'the client\'s trace state carries on')
  t.equal(await endWith(ok.span, Promise.resolve(200), (span, status) => span.setAttribute(ATTR.status, status)), 200)
  const refused = startUpstreamSpan(request.context, 'new', 'shadow')!
  await t.rejects(endWith(refused.span, Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), () => undefined))
  const [first, second] = finished()
  t.match(first, { name: 'upstream old', kind: SpanKind.CLIENT, parentSpanContext: { spanId: request.span.spanContext().spanId } })
  t.same(first!.attributes, { [ATTR.role]: 'primary', [ATTR.status]: 200 })
  t.match(second, { name: 'upstream new', status: { code: SpanStatusCode.ERROR, message: 'connect ECONNREFUSED' } })
  t.same(second!.attributes, { [ATTR.role]: 'shadow', [ATTR.errorType]: 'ECONNREFUSED' })
})

t.test('an error is named by its status, else its code, else its class', async t => {
  t.equal(errorType(Object.assign(new Error('x'), { statusCode: 503, code: 'E' })), '503')
  t.equal(errorType(Object.assign(new Error('x'), { code: 'EOPENBREAKER' })), 'EOPENBREAKER')
  t.equal(errorType(new TypeError('x')), 'TypeError')
})

t.test('a shadow read nests its comparison and says how it ended', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  const request = startRequestSpan({}, 'GET', '/x')!
  const compared = startShadowSpan(request.context, 'new')!
  t.same((await traceComparison(compared, async () => ({ result: 'critical', pointers: ['/enabled', '/threshold'] }))).result, 'critical')
  endShadowSpan(compared, { result: 'critical' })
  endShadowSpan(startShadowSpan(request.context, 'new'), { skipped: 'breaker_open' })
  const [compare, shadow, skipped] = finished()
  t.match(compare, { name: 'compare', parentSpanContext: { spanId: compared.span.spanContext().spanId }, attributes: { [ATTR.result]: 'critical', [ATTR.pointerCount]: 2 } })
  t.match(shadow, { name: 'shadow new', parentSpanContext: { spanId: request.span.spanContext().spanId } })
  t.same(shadow!.attributes, { [ATTR.result]: 'critical' })
  t.match(skipped!.attributes, { [ATTR.shadowSkipped]: 'breaker_open' })
})

t.test('writes are remembered per key until applied, bounded, and become links', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  const writes = Array.from({ length: 10 }, () => {
    const w = startRequestSpan({}, 'PUT', '/x')!
    w.span.end()
    return traceparentOf(w.span)!
  })
  t.match(writes[0], /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  const links = new WriteLinks(2)
  for (const w of writes) links.note('a', w)
  links.note('a', undefined)
  links.note('b', 'not a traceparent')
  links.note('c', writes[0])
  t.same(links.take('a'), [], 'the oldest key went when a third came')
  t.same(links.take('b'), [], 'a record with a traceparent that cannot be read links to nothing')
  links.note('a', writes[1])
  for (const w of writes) links.note('d', w)
  const taken = links.take('d')
  t.equal(taken.length, 8, 'at most 8 writes per key')
  t.same(taken.at(-1)!.context.spanId, writes[9]!.split('-')[2], 'the newest kept')
  t.same(links.take('d'), [], 'forgotten once taken')
  const span = startApplySpan('alert-rule', 'old', 'new', links.take('a'))!
  span.end()
  const apply = finished().at(-1)!
  t.match(apply, { name: 'sync apply', parentSpanContext: undefined, attributes: { [ATTR.syncSource]: 'old', [ATTR.syncTarget]: 'new' } })
  t.same(apply.links.map(l => l.context.spanId), [writes[1]!.split('-')[2]])
})

t.test('a trace that is not sampled makes no attempt spans and leaves no trace context behind', async t => {
  const { finished, off } = tracer({ sampled: false })
  t.teardown(off)
  const w = startRequestSpan({}, 'PUT', '/x')!
  t.equal(traceparentOf(w.span), undefined)
  t.equal(startUpstreamSpan(w.context, 'old', 'primary'), undefined)
  recordDecision(w.span, 'default', 'alert-rule', 'old', 'write', 200)
  w.span.end()
  t.same(finished(), [])
})

t.test('a cutover run: one span, a child per step, an error unless it switched', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  const run = startCutoverTrace('abcd1234', 'old', 'new', 'command')
  run.step('precheck')
  run.end('refused', 'sync.direction is fixed to old-to-new')
  const [step, root] = finished()
  t.match(step, { name: 'cutover precheck', parentSpanContext: { spanId: root!.spanContext().spanId } })
  t.match(root, { name: 'cutover', status: { code: SpanStatusCode.ERROR, message: 'sync.direction is fixed to old-to-new' }, attributes: { [ATTR.cutoverResult]: 'refused', [ATTR.cutoverRun]: 'abcd1234' } })
  t.equal(trace.getActiveSpan(), undefined, 'nothing is made active: spans are passed, not ambient')
})

t.test("a span's context is the parent's with the span set, and the API's operations work on it", async t => {
  const { off } = tracer()
  t.teardown(off)
  const key = Symbol('other')
  const parentKey = Symbol('parent')
  const request = startRequestSpan({ traceparent: CLIENT }, 'GET', '/x')!
  t.equal(trace.getSpan(request.context), request.span)
  t.equal(trace.getSpanContext(request.context)!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  // What the parent held stays readable (a value set on the client's extracted context, say).
  const withParent = startUpstreamSpan(request.context.setValue(parentKey, 'kept'), 'old', 'primary')!
  t.equal(withParent.context.getValue(parentKey), 'kept')
  t.equal(trace.getSpan(withParent.context), withParent.span, 'the nearest span wins')
  const set = withParent.context.setValue(key, 42)
  t.equal(set.getValue(key), 42)
  t.equal(trace.getSpan(set), withParent.span)
  t.equal(trace.getSpan(trace.deleteSpan(set)), undefined, 'a deleted span is gone, however deep')
  t.equal(trace.deleteSpan(set).getValue(key), 42)
  t.equal(withParent.context.getValue(key), undefined, 'a context never changes')
})

t.test("with the recorder's direct injection, upstreams get the headers the propagators in force would write", async t => {
  const direct = (propagator: TextMapPropagator) => {
    const { tracer: recording } = recorder()
    propagation.disable()
    propagation.setGlobalPropagator(propagator)
    enableSpans({ tracer: recording, w3c: new W3CTraceContextPropagator(), inject: injectRecorded })
    t.teardown(() => { enableSpans(undefined); propagation.disable() })
    const request = startRequestSpan({ traceparent: CLIENT, tracestate: 'vendor=1' }, 'GET', '/x')!
    const attempt = startUpstreamSpan(request.context, 'old', 'primary')!
    const expected: Record<string, string> = { accept: 'application/json' }
    propagator.inject(attempt.context, expected, defaultTextMapSetter)
    return { got: withTraceContext({ traceparent: CLIENT, accept: 'application/json' }, attempt.context), expected, attempt }
  }
  const w3cAndBaggage = direct(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
  t.same(w3cAndBaggage.got, w3cAndBaggage.expected, 'the default propagators (tracecontext, baggage)')
  t.equal(w3cAndBaggage.got['traceparent'], `00-4bf92f3577b34da6a3ce929d0e0e4736-${w3cAndBaggage.attempt.span.spanContext().spanId}-01`)
  const w3c = direct(new W3CTraceContextPropagator())
  t.same(w3c.got, w3c.expected, 'tracecontext alone')
  // Another format (b3, jaeger...): the propagator writes its own headers, and no traceparent appears.
  const other: TextMapPropagator = {
    inject: (context, carrier: Record<string, string>) => { carrier['x-trace'] = trace.getSpanContext(context)!.spanId },
    extract: context => context,
    fields: () => ['x-trace'],
  }
  const custom = direct(other)
  t.same(custom.got, { traceparent: CLIENT, accept: 'application/json', 'x-trace': custom.attempt.span.spanContext().spanId })
  // Stopped with reads in flight: their upstream calls go through the API, which writes nothing once stopped.
  const inFlight = direct(new W3CTraceContextPropagator())
  enableSpans(undefined)
  propagation.disable()
  t.same(withTraceContext({ traceparent: CLIENT, accept: 'application/json' }, inFlight.attempt.context), { accept: 'application/json' })
})

t.test('request span names are made once per method and route, and still made past the bound', async t => {
  const { finished, off } = tracer()
  t.teardown(off)
  for (let i = 0; i < 1100; i++) startRequestSpan({}, 'GET', `/r${i}`)!.span.end()
  startRequestSpan({}, 'GET', '/r0')!.span.end()
  startRequestSpan({}, 'PUT', undefined)!.span.end()
  const names = finished().map(s => s.name)
  t.same([names[0], names[1099], names[1100], names[1101]], ['GET /r0', 'GET /r1099', 'GET /r0', 'PUT'])
})
