// `dualread proxy` with OTEL_EXPORTER_OTLP_ENDPOINT set, exporting to a receiver this test serves:
// the span tree of reads that were shadowed, fell back and failed, and the trace context the
// upstreams see (the client's trace, the proxy's attempt as parent).
import t from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { startProcess } from '../helpers/process.ts'
import { startPair } from '../helpers/upstream.ts'
import { OtlpReceiver, SPAN_KIND, tracingEnv, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const UNSAMPLED_TRACE = '5bf92f3577b34da6a3ce929d0e0e4737'
const SECRET = 'Bearer s3cr3t-t0ken'
const ITEM_ROUTE = '/api/v1/tenants/:tenant/alert-rules/:id'

const RULES = `
  - name: shadowed
    match: { tenants: [acme] }
    primary: old
    shadowPercent: 100
    fallback: true
  - name: default
    primary: old
    fallback: true
`

/** The W3C traceparent an upstream received: trace id and parent span id. */
function parentOf(header: string | string[] | undefined): { traceId: string, spanId: string } {
  const [, traceId = '', spanId = ''] = String(header).split('-')
  return { traceId, spanId }
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter(s => s.parentSpanId === parent.spanId)

t.test('a traced proxy: the span tree of a shadowed read, a fallback, a failed read and a write, and the upstreams in the same trace', async t => {
  const receiver = await OtlpReceiver.start(t)
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  // A breaker that opens on the first failure: the third read meets it open.
  const policy = writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, rules: RULES, breaker: '{ errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeoutMs: 60000 }' })
  const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir], tracingEnv(receiver, { OTEL_SERVICE_NAME: 'dualread-under-test' }))
  t.teardown(() => p.kill())
  const { proxy } = await p.listening
  t.match(p.output().stdout, /tracing on: spans go to otlp http:\/\/127\.0\.0\.1:\d+/)
  const rule = { id: 'r1', name: 'disk full', enabled: true }
  oldUp.behaviour = { body: rule }
  newUp.behaviour = { body: { ...rule, enabled: false } }

  // 1. Shadowed: served by old, compared with new (one pointer differs).
  const shadowed = await fetch(`http://${proxy}/api/v1/tenants/acme/alert-rules/r1`, { headers: { authorization: SECRET } })
  t.equal(shadowed.status, 200)
  // 1b. In a trace the client did not sample.
  t.equal((await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r3`, { headers: { traceparent: `00-${UNSAMPLED_TRACE}-${CLIENT_SPAN}-00` } })).status, 200)
  const unsampled = oldUp.reads().at(-1)!.headers.traceparent
  // 2. Fell back: old answers 503 (and its breaker opens), new serves; continued from the client's trace.
  oldUp.behaviour = { status: 503 }
  const fellBack = await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`, { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, 'x-api-key': SECRET } })
  t.equal(fellBack.headers.get('x-dualread-reason'), 'fallback')
  // 3. Failed: old's breaker is open, new answers 503 too.
  newUp.behaviour = { status: 503 }
  t.equal((await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r2`)).status, 503)
  // 4. A write, and a request no resource matches.
  oldUp.behaviour = {}
  t.equal((await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/w1`, { method: 'PUT', body: '{"name":"w"}' })).status, 200)
  t.equal((await fetch(`http://${proxy}/elsewhere`)).status, 200)

  const spans = await receiver.waitFor(s => s.some(x => x.name === 'compare') && s.filter(x => x.kind === SPAN_KIND.server).length === 5)
  const servers = spans.filter(s => s.kind === SPAN_KIND.server)
  t.same(servers.map(s => s.name).sort(), [`GET ${ITEM_ROUTE}`, `GET ${ITEM_ROUTE}`, `GET ${ITEM_ROUTE}`, 'GET', `PUT ${ITEM_ROUTE}`].sort(), 'one server span per request, named by route template')
  t.equal(spans[0]!.resource['service.name'], 'dualread-under-test', 'OTEL_SERVICE_NAME names the service')

  // The shadowed read.
  const read = servers.find(s => s.attributes['dualread.rule'] === 'shadowed')!
  t.same(read.attributes, {
    'dualread.rule': 'shadowed', 'dualread.resource_type': 'alert-rule', 'dualread.served_by': 'old', 'dualread.reason': 'rule', 'dualread.fallback': false,
    'http.response.status_code': 200,
  }, 'the decision and the status, nothing else')
  t.equal(read.parentSpanId, undefined, 'a request without trace context starts a trace')
  const [shadow, primary, ...more] = childrenOf(spans, read).sort((a, b) => a.name.localeCompare(b.name))
  t.same(more, [], 'the primary attempt and the shadow read, nothing else')
  t.match(shadow, { name: 'shadow new', kind: SPAN_KIND.internal, attributes: { 'dualread.parity.result': 'cosmetic' } })
  t.match(primary, { name: 'upstream old', kind: SPAN_KIND.client, attributes: { 'dualread.role': 'primary', 'http.response.status_code': 200 } })
  const underShadow = childrenOf(spans, shadow!)
  t.match(underShadow.find(s => s.name === 'upstream new'), { kind: SPAN_KIND.client, attributes: { 'dualread.role': 'shadow', 'http.response.status_code': 200 } })
  t.match(underShadow.find(s => s.name === 'compare'), { attributes: { 'dualread.parity.result': 'cosmetic', 'dualread.parity.pointer_count': 1 } })
  const [oldRead1, , oldRead2] = oldUp.reads()
  const [newRead1, newRead2] = newUp.reads()
  t.same(parentOf(oldRead1!.headers.traceparent), { traceId: read.traceId, spanId: primary!.spanId }, 'old saw the primary attempt as its parent')
  t.same(parentOf(newRead1!.headers.traceparent), { traceId: read.traceId, spanId: underShadow.find(s => s.name === 'upstream new')!.spanId }, 'new saw the shadow read as its parent')

  // The read that fell back, in the client's trace.
  const fallback = servers.find(s => s.attributes['dualread.reason'] === 'fallback')!
  t.match(fallback, { traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN, attributes: { 'dualread.rule': 'default', 'dualread.served_by': 'new', 'dualread.fallback': true, 'http.response.status_code': 200 } })
  const attempts = childrenOf(spans, fallback)
  t.match(attempts.find(s => s.name === 'upstream old'), { status: { code: 2 }, attributes: { 'http.response.status_code': 503, 'error.type': '503' } })
  t.match(attempts.find(s => s.name === 'upstream new'), { status: { code: 0 }, attributes: { 'http.response.status_code': 200 } })
  t.same(parentOf(oldRead2!.headers.traceparent), { traceId: CLIENT_TRACE, spanId: attempts.find(s => s.name === 'upstream old')!.spanId }, 'the failing side saw the client\'s trace')
  t.same(parentOf(newRead2!.headers.traceparent), { traceId: CLIENT_TRACE, spanId: attempts.find(s => s.name === 'upstream new')!.spanId }, 'so did the side that served')

  // The read that failed on both sides: the open breaker is an attempt too.
  const failed = servers.find(s => s.attributes['http.response.status_code'] === 503)!
  t.match(failed, { status: { code: 2 }, attributes: { 'error.type': '503', 'dualread.served_by': 'new' } })
  t.match(childrenOf(spans, failed).find(s => s.name === 'upstream old'), { attributes: { 'error.type': 'EOPENBREAKER' } })

  // The write: the authority sees the proxy's request span as its parent.
  const write = servers.find(s => s.name.startsWith('PUT'))!
  t.match(write.attributes, { 'dualread.reason': 'write', 'dualread.served_by': 'old', 'http.response.status_code': 200 })
  t.same(parentOf(oldUp.writes()[0]!.headers.traceparent), { traceId: write.traceId, spanId: write.spanId })
  t.match(servers.find(s => s.name === 'GET')!.attributes, { 'dualread.reason': 'passthrough', 'dualread.rule': '(none)' })

  // The unsampled read: nothing exported, and the upstream still sent the trace, unsampled, with the proxy as parent.
  t.notOk(spans.some(s => s.traceId === UNSAMPLED_TRACE), 'a trace the client did not sample is not exported')
  const [, traceId, parent, flags] = String(unsampled).split('-')
  t.same({ traceId, flags }, { traceId: UNSAMPLED_TRACE, flags: '00' })
  t.not(parent, CLIENT_SPAN, 'the proxy\'s own (unexported) span is the parent')

  // Nothing a client sent, nothing of a body, no id and no tenant.
  const values = spans.flatMap(s => Object.values(s.attributes).map(String))
  for (const leak of ['s3cr3t', 'disk full', 'r1', 'r2', 'w1', 'acme', 'other']) t.notOk(values.some(v => v.includes(leak)), `no span attribute carries "${leak}"`)

  p.child.kill('SIGTERM')
  t.equal((await p.exited)[0], 0)
})

t.test('SIGTERM exports the spans still queued before the process exits', async t => {
  const receiver = await OtlpReceiver.start(t)
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const policy = writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url })
  // A batch delay far longer than the test: only the shutdown can send the span.
  const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir], tracingEnv(receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000' }))
  t.teardown(() => p.kill())
  const { proxy } = await p.listening
  t.equal((await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`)).status, 200)
  t.same(receiver.spans, [], 'nothing exported yet')
  p.child.kill('SIGTERM')
  t.equal((await p.exited)[0], 0)
  t.same(receiver.spans.map(s => s.name).sort(), [`GET ${ITEM_ROUTE}`, 'upstream old'])
})
