// Reads of a side whose read connections are all held by slow readers: they wait at most
// queueTimeoutMs for a free one, then fail like any other upstream failure.
import t, { type Test } from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { LARGE_ANSWER, SlowReaders } from '../helpers/slow-reader.ts'
import { startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const BIG = '/api/v1/tenants/other/alert-rules/big'
const ITEM = '/api/v1/tenants/other/alert-rules/r1'
/** Only so that a read which never answers fails this test instead of hanging it. */
const NEVER_MS = 15_000

interface Status {
  upstreams: Record<'old' | 'new', { breakers: Record<string, string>, connections: { reads: { size: number, inUse: number, waiting: number } } }>
}

async function setup(t: Test, o: { rules?: string, breaker?: string, old: string, new?: string }) {
  const { oldUp, newUp } = await startPair(t)
  for (const u of [oldUp, newUp]) u.behaviour = { body: (r: { url: string }) => r.url.endsWith('/big') ? LARGE_ANSWER : { served: u.name, url: r.url } }
  const dir = scratchDir(t)
  // timeoutMs well above the test's length: a held connection is held by its reader, never timed out.
  const policyFile = writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, timeoutMs: 60_000, upstreamKeys: { old: o.old, ...(o.new ? { new: o.new } : {}) }, ...(o.rules ? { rules: o.rules } : {}), ...(o.breaker ? { breaker: o.breaker } : {}) })
  const sidecar = await startTestSidecar(t, { policyFile, stateDir: dir, drainTimeoutMs: 100 })
  const readers = new SlowReaders()
  t.teardown(() => readers.close())
  const status = async () => await (await fetch(sidecar.adminUrl + '/status')).json() as Status
  return { oldUp, newUp, sidecar, readers, status }
}

async function read(url: string) {
  const res = await fetch(url, { signal: AbortSignal.timeout(NEVER_MS) })
  const body = await res.text()
  return { status: res.status, body, servedBy: res.headers.get('x-dualread-served-by'), reason: res.headers.get('x-dualread-reason') }
}

t.test('with every read connection of a side held by slow readers, a new read falls back to the other side and counts against the breaker', async t => {
  const { oldUp, newUp, sidecar, readers, status } = await setup(t, {
    old: 'connections: 2', // queueTimeoutMs: the default
    // The two slow reads count as calls too (still running): 2 failures in 4 calls is over 40%.
    breaker: '{ errorThresholdPercentage: 40, volumeThreshold: 4, resetTimeoutMs: 60000 }',
  })
  readers.open(sidecar.proxyUrl, BIG, 2)
  await eventually(() => oldUp.reads().length, n => n === 2)
  t.match((await status()).upstreams.old.connections.reads, { size: 2, inUse: 2, waiting: 0 }, 'both read connections of old are held')

  const first = await read(sidecar.proxyUrl + ITEM)
  t.same([first.status, first.servedBy, first.reason], [200, 'new', 'fallback'], 'served by new instead of waiting for old')
  t.match(first.body, /"served":"new"/)
  t.equal(oldUp.reads().length, 2, 'the read never reached old: it gave up waiting for a connection')
  t.equal((await status()).upstreams.old.breakers['primary'], 'closed', 'one failure in three calls is below the breaker\'s volume threshold')

  const second = await read(sidecar.proxyUrl + ITEM)
  t.same([second.status, second.servedBy, second.reason], [200, 'new', 'fallback'])
  t.equal((await status()).upstreams.old.breakers['primary'], 'open', 'the breaker counted both as failures and opened')
  const metrics = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  t.match(metrics, /dualread_upstream_queue_timeouts_total\{upstream="old",pool="reads"\} 2/)
  t.match(metrics, /dualread_fallbacks_total\{from="old",to="new"\} 2/)
  t.equal(newUp.reads().length, 2)
  readers.close()
})

t.test('without fallback, a read that finds every connection busy answers 503 and names the side, not its address', async t => {
  const rules = `
  - name: default
    primary: old
    fallback: false
`
  const { oldUp, newUp, sidecar, readers, status } = await setup(t, { old: 'connections: { reads: 2 }, queueTimeoutMs: 100', rules })
  readers.open(sidecar.proxyUrl, BIG, 2)
  await eventually(() => oldUp.reads().length, n => n === 2)
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy, r.reason], [503, 'old', 'rule'])
  t.same(JSON.parse(r.body), { error: 'upstream_unavailable', detail: 'the old upstream had all 2 read connections busy for 100 ms' })
  t.equal(newUp.reads().length, 0, 'the other side was never asked')
  t.match((await status()).upstreams.old.connections.reads, { inUse: 2, waiting: 0 }, 'the refused read left the queue')

  readers.close()
  const after = await eventually(() => read(sidecar.proxyUrl + ITEM), x => x.status === 200)
  t.same([after.status, after.servedBy], [200, 'old'], 'once the readers hang up, their connections serve reads again')
})

t.test('a shadow read never waits for a connection: with none free it is skipped and the shadow breaker is not blamed', async t => {
  const rules = `
  - name: acme-on-new
    match: { tenants: [acme] }
    primary: new
  - name: default
    primary: old
    shadowPercent: 100
`
  const { oldUp, newUp, sidecar, readers, status } = await setup(t, {
    old: 'connections: 4', new: 'connections: 1',
    breaker: '{ errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeoutMs: 60000 }',
    rules,
  })
  readers.open(sidecar.proxyUrl, '/api/v1/tenants/acme/alert-rules/big', 1)
  await eventually(() => newUp.reads().length, n => n === 1)
  const r = await read(sidecar.proxyUrl + ITEM)
  t.same([r.status, r.servedBy], [200, 'old'])
  const skipped = await eventually(async () => await (await fetch(sidecar.adminUrl + '/metrics')).text(), m => /dualread_shadow_skipped_total\{reason="connections_busy"\} 1/.test(m))
  t.match(skipped, /dualread_shadow_skipped_total\{reason="connections_busy"\} 1/)
  t.match(skipped, /dualread_upstream_queue_timeouts_total\{upstream="new",pool="reads"\} 1/)
  t.notMatch(skipped, /dualread_shadow_comparisons_total/, 'nothing was compared, and no error recorded')
  t.equal(newUp.reads().length, 1, 'the shadow read was never sent')
  t.equal(oldUp.reads().length, 1)
  t.equal((await status()).upstreams.new.breakers['shadow'], 'closed', 'a busy pool is not a failing upstream')
  readers.close()
})

t.test('a read waiting for a connection is served by its own side as soon as one comes free', async t => {
  const { oldUp, newUp, sidecar, readers, status } = await setup(t, { old: 'connections: 1, queueTimeoutMs: 30000' })
  readers.open(sidecar.proxyUrl, BIG, 1)
  await eventually(() => oldUp.reads().length, n => n === 1)
  const waiting = read(sidecar.proxyUrl + ITEM)
  t.match(await eventually(status, s => s.upstreams.old.connections.reads.waiting === 1), { upstreams: { old: { connections: { reads: { inUse: 1, waiting: 1 } } } } })
  readers.close()
  const r = await waiting
  t.same([r.status, r.servedBy, r.reason], [200, 'old', 'rule'], 'the slow reader\'s connection went to the waiting read')
  t.equal(newUp.reads().length, 0)
})
