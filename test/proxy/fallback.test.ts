import t, { type Test } from 'tap'
import { refusedPort, TestUpstream, startPair } from '../helpers/upstream.ts'
import { writePolicy } from '../helpers/policy.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const ITEM = '/api/v1/tenants/other/alert-rules/r1'

async function setup(t: Test, parts: { timeoutMs?: number, breaker?: string, rules?: string } = {}) {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, ...parts }), stateDir: dir })
  return { oldUp, newUp, sidecar }
}

async function read(url: string) {
  const res = await fetch(url)
  const body = await res.text()
  return { status: res.status, body, servedBy: res.headers.get('x-dualread-served-by'), reason: res.headers.get('x-dualread-reason') }
}

t.test('a 5xx from the serving side falls back to the other side', async t => {
  const { oldUp, sidecar } = await setup(t)
  oldUp.behaviour = { status: 503 }
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason], [200, 'new', 'fallback'])
  t.match(r.body, /"served":"new"/)
  const metrics = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  t.match(metrics, /dualread_fallbacks_total\{from="old",to="new"\} 1/)
  t.match(metrics, /dualread_requests_total\{rule="default",resource_type="alert-rule",served_by="new",reason="fallback",status_class="2xx"\} 1/)
  await read(sidecar.proxyUrl + ITEM)
  const status = await (await fetch(sidecar.adminUrl + '/status')).json() as { traffic: unknown[] }
  t.same(status.traffic, [{ rule: 'default', resourceType: 'alert-rule', old: 0, new: 2, fallbacks: 2, errors: 0 }], '/status and /ui show the fallbacks per slice')
})

t.test('a timeout on the serving side falls back to the other side', async t => {
  const { oldUp, sidecar } = await setup(t, { timeoutMs: 150 })
  oldUp.behaviour = { delayMs: 1000 }
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason], [200, 'new', 'fallback'])
})

t.test('a refused connection falls back to the other side', async t => {
  const newUp = await TestUpstream.start('new')
  t.teardown(() => newUp.close())
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${await refusedPort()}`, newUrl: newUp.url }), stateDir: dir })
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason], [200, 'new', 'fallback'])
})

t.test('without fallback the client sees the serving side\'s failure', async t => {
  const rules = `
  - name: default
    primary: old
    fallback: false
`
  const { oldUp, newUp, sidecar } = await setup(t, { rules, timeoutMs: 150 })
  oldUp.behaviour = { status: 500, body: { error: 'db down' } }
  let r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason, r.body], [500, 'old', 'rule', '{"error":"db down"}'], 'the upstream 5xx is passed on as is')
  oldUp.behaviour = { delayMs: 1000 }
  r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy], [504, 'old'], 'a timeout is a 504')
  t.match(JSON.parse(r.body), { error: 'upstream_unavailable' })
  t.equal(newUp.reads().length, 0, 'the other side was never asked')
})

t.test('without fallback a refused connection is a 502', async t => {
  const newUp = await TestUpstream.start('new')
  t.teardown(() => newUp.close())
  const dir = scratchDir(t)
  const rules = `
  - name: default
    primary: old
    fallback: false
`
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${await refusedPort()}`, newUrl: newUp.url, rules }), stateDir: dir })
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason], [502, 'old', 'rule'])
  t.same(JSON.parse(r.body), { error: 'upstream_unavailable', detail: 'the old upstream refused the connection' }, 'the side is named, not its address')
})

t.test('when both sides fail the client gets a clean error', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { status: 500 }
  newUp.behaviour = { status: 502, body: { error: 'new down too' } }
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason, r.body], [502, 'new', 'fallback', '{"error":"new down too"}'])
})

t.test('a breaker opens under failures, fails fast, and closes after the reset timeout', async t => {
  const breaker = '{ errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 400 }'
  const rules = `
  - name: default
    primary: old
    fallback: false
`
  const { oldUp, sidecar } = await setup(t, { breaker, rules })
  oldUp.behaviour = { status: 500 }
  for (let i = 0; i < 4; i++) await read(sidecar.proxyUrl + ITEM)
  const status = async () => (await (await fetch(sidecar.adminUrl + '/status')).json()) as { upstreams: { old: { breakers: { primary: string } } } }
  t.equal((await status()).upstreams.old.breakers.primary, 'open')
  t.match(await (await fetch(sidecar.adminUrl + '/metrics')).text(), /dualread_breaker_state\{upstream="old",role="primary"\} 2/)

  const asked = oldUp.reads().length
  const r = await read(sidecar.proxyUrl + ITEM)
  t.equal(r.status, 503, 'an open breaker fails fast with 503')
  t.equal(oldUp.reads().length, asked, 'the failing upstream is not called while open')

  oldUp.behaviour = {}
  await new Promise(resolve => setTimeout(resolve, 450))
  t.equal((await status()).upstreams.old.breakers.primary, 'half-open', 'after the reset timeout one trial call is allowed')
  const after = await read(sidecar.proxyUrl + ITEM)
  t.equal(after.status, 200, 'the half-open trial call succeeds')
  t.equal((await status()).upstreams.old.breakers.primary, 'closed')
  t.ok(sidecar.logs.some(l => l.includes('breaker for old (primary) opened')), 'the opening is logged')
})

t.test('an open breaker on the serving side sends reads to the other side', async t => {
  const breaker = '{ errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 60000 }'
  const { oldUp, newUp, sidecar } = await setup(t, { breaker })
  oldUp.behaviour = { status: 500 }
  await read(sidecar.proxyUrl + ITEM)
  await read(sidecar.proxyUrl + ITEM)
  const asked = oldUp.reads().length
  const r = await eventually(() => read(sidecar.proxyUrl + ITEM), x => x.servedBy === 'new')
  t.same([r.status, r.servedBy, r.reason], [200, 'new', 'fallback'])
  t.equal(oldUp.reads().length, asked, 'old is skipped while its breaker is open')
  t.ok(newUp.reads().length >= 3)
})
