// Tracing in the embedded arrangement (proxy and sync in one process, sharing a state file): the
// sync's apply of a key written through the proxy links to that write's span across the change
// stream, and a write cutover is a span with one child per step.
import t from 'tap'
import { startTracing } from '../../src/telemetry/tracing.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { TENANT } from '../helpers/cutover.ts'
import { OtlpReceiver, tracingEnv } from '../helpers/otlp-receiver.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c'

t.test('the sync links its apply to the write that caused it, and a cutover traces its steps', async t => {
  const receiver = await OtlpReceiver.start(t)
  // The SDK reads process.env: set for this file's process only, and put back after.
  const saved = { ...process.env }
  Object.assign(process.env, tracingEnv(receiver))
  const { log } = captureLog()
  const tracing = await startTracing(log)
  t.teardown(async () => {
    await tracing.shutdown()
    process.env = saved
  })
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  f.writePolicy({ sync: 'cutover: { maxHoldMs: 5000 }' })
  f.old.store.addTenant(TENANT)
  f.new.store.addTenant(TENANT)
  const e = await startEmbedded(t, f)

  const put = await fetch(`${e.proxy.proxyUrl}/api/v1/tenants/${TENANT}/alert-rules/traced-1`, {
    method: 'PUT', body: JSON.stringify({ name: 'traced', enabled: true, threshold: 1 }), headers: { traceparent: `00-${CLIENT_TRACE}-b7ad6b7169203331-01` },
  })
  t.equal(put.status, 200)
  const spans = await receiver.waitFor(s => s.some(x => x.name === 'sync apply' && x.links.length > 0))
  const write = spans.find(s => s.name.startsWith('PUT '))!
  t.equal(write.traceId, CLIENT_TRACE, 'the write is in the client\'s trace')
  const apply = spans.find(s => s.name === 'sync apply' && s.links.length > 0)!
  t.same(apply.links.map(l => ({ traceId: l.traceId, spanId: l.spanId })), [{ traceId: CLIENT_TRACE, spanId: write.spanId }], 'linked to the write, through the change stream')
  t.not(apply.traceId, CLIENT_TRACE, 'a trace of its own')
  // An upsert, or unchanged when the pass that started with the sync copied the key first (a
  // loaded machine): either way the apply of that key carries the link.
  t.match(apply.attributes, { 'dualread.resource_type': 'alert-rule', 'dualread.sync.source': 'old', 'dualread.sync.target': 'new', 'dualread.sync.op': /^(upsert|unchanged)$/, 'dualread.sync.conflict': false })
  t.notOk(Object.values(apply.attributes).some(v => String(v).includes('traced-1') || String(v).includes(TENANT)), 'no key, id or tenant on it')

  const asked = await fetch(`${e.proxy.adminUrl}/cutover`, { method: 'POST', body: '{"to":"new"}' })
  t.equal(asked.status, 202)
  const after = await receiver.waitFor(s => s.some(x => x.name === 'cutover'))
  const run = after.find(s => s.name === 'cutover')!
  t.match(run.attributes, { 'dualread.cutover.from': 'old', 'dualread.cutover.to': 'new', 'dualread.cutover.trigger': 'command', 'dualread.cutover.result': 'switched' })
  t.match(run.attributes['dualread.cutover.run'], /^[0-9a-f]{8}$/, 'the run as `dualread history` names it')
  t.equal(run.status.code, 0)
  const steps = after.filter(s => s.parentSpanId === run.spanId).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano))).map(s => s.name)
  t.same(steps, ['cutover precheck', 'cutover catch-up', 'cutover hold', 'cutover drain', 'cutover switch'], 'one child span per step, in order')
  await e.stop()
})
