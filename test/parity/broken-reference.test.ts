// Broken references in shadow comparisons, against two real reference APIs behind a real proxy:
// an alert rule whose escalation policy exists on one side only is critical (pointer
// /escalationPolicyId, reason broken-reference), counted and sampled; the same rule with its
// policy on both sides, or on neither, is not drift. The lookups run after the client's answer,
// in the comparison's own shadow slot, and a short-lived cache keeps them from multiplying reads.
import { writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startReferenceApi, type ReferenceApi } from '../../src/reference/index.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { startPair, type Received } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import type { ReferenceCacheOptions } from '../../src/parity/reference-cache.ts'

const RULES = '/api/v1/tenants/acme/alert-rules'
const EP_PATH = '/api/v1/tenants/acme/escalation-policies/ep-1'

interface Slice {
  resourceType: string
  comparisons: number
  results: Record<string, number>
  topPointers: Array<{ pointer: string, severity: string, reason?: string, count: number }>
  samples: Array<{ result: string, path: string, detail?: string, pointers: Array<{ pointer: string, severity: string, reason?: string }> }>
}

interface Store {
  api: ReferenceApi
  /** GETs of the escalation policy, by path. */
  lookups: string[]
  /** Set to hold the escalation policy's GETs until it resolves. */
  hold?: Promise<void> | undefined
  /** Called as the nth lookup arrives, before it is answered. */
  onLookup?: (n: number) => void
}

async function store(t: Test): Promise<Store> {
  const s: Store = { api: undefined as unknown as ReferenceApi, lookups: [] }
  s.api = await startReferenceApi({
    onRequest: async (req: IncomingMessage) => {
      if (req.url?.includes('/escalation-policies/')) {
        const n = s.lookups.push(req.url)
        s.onLookup?.(n)
        await s.hold
      }
    },
  })
  t.teardown(() => s.api.close())
  s.api.store.addTenant('acme')
  return s
}

async function setup(t: Test, o: { maxInFlight?: number, recheckLagMs?: number, referenceCache?: ReferenceCacheOptions } = {}) {
  const [old, neu] = await Promise.all([store(t), store(t)])
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${old.api.url} }
  new: { url: ${neu.api.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    compare: { ignore: [/updatedAt] }
    references: { /escalationPolicyId: escalation-policy }
  - type: escalation-policy
    collection: /api/v1/tenants/:tenant/escalation-policies
    item: /api/v1/tenants/:tenant/escalation-policies/:id
    compare: { ignore: [/updatedAt] }
rules:
  - name: default
    primary: old
    shadowPercent: 100
shadow: { maxInFlight: ${o.maxInFlight ?? 64}, timeoutMs: 1000, recheckLagMs: ${o.recheckLagMs ?? 0} }
`)
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir, ...(o.referenceCache ? { referenceCache: o.referenceCache } : {}) })
  const both = (fn: (api: ReferenceApi) => void) => { fn(old.api); fn(neu.api) }
  return { old, neu, sidecar, both }
}

const rule = (id: string, ep = 'ep-1') => ({ id, name: `rule ${id}`, enabled: true, escalationPolicyId: ep, version: 1 })

async function status(s: TestSidecar): Promise<Slice[]> {
  return ((await (await fetch(`${s.adminUrl}/status`)).json()) as { parity: Slice[] }).parity
}
const slice = async (s: TestSidecar) => (await status(s)).find(p => p.resourceType === 'alert-rule')
const compared = (s: TestSidecar, n: number) => eventually(() => slice(s), v => (v?.comparisons ?? 0) >= n)
const metrics = async (s: TestSidecar) => (await fetch(`${s.adminUrl}/metrics`)).text()

t.test('a link that resolves on old and not on new is critical: its own pointer, reason broken-reference, counted and sampled', async t => {
  const { old, neu, sidecar, both } = await setup(t)
  both(api => api.store.put('alert-rule', 'acme', 'r1', rule('r1')))
  old.api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1', steps: [] })
  const res = await sidecar.get(`${RULES}/r1`)
  t.equal(res.status, 200)
  t.equal((await res.json() as { escalationPolicyId: string }).escalationPolicyId, 'ep-1', 'the client gets the primary answer')
  const s = (await compared(sidecar, 1))!
  t.same(s.results, { match: 0, cosmetic: 0, critical: 1, lag: 0, error: 0 }, 'the two rules are byte-equal, and still critical')
  t.same(s.topPointers, [{ pointer: '/escalationPolicyId', severity: 'critical', reason: 'broken-reference', count: 1 }])
  t.match(s.samples[0], {
    result: 'critical', path: `${RULES}/r1`,
    pointers: [{ pointer: '/escalationPolicyId', severity: 'critical', reason: 'broken-reference' }],
    detail: 'escalation-policy "ep-1" (at /escalationPolicyId) exists on old, not on new',
  })
  const text = await metrics(sidecar)
  t.match(text, /dualread_shadow_comparisons_total\{rule="default",resource_type="alert-rule",result="critical"\} 1/)
  t.match(text, /dualread_drift_pointers_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",severity="critical"\} 1/)
  t.match(text, /dualread_shadow_references_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",result="broken"\} 1/)
  t.same([old.lookups, neu.lookups], [[EP_PATH], [EP_PATH]], 'looked up once on each side')
  const parity = await sidecar.get('/api/v1/tenants/acme/alert-rules')
  await parity.arrayBuffer()
  const list = await eventually(() => slice(sidecar), v => (v?.comparisons ?? 0) >= 2)
  t.same(list!.topPointers.find(p => p.pointer === '/items/*/escalationPolicyId'), { pointer: '/items/*/escalationPolicyId', severity: 'critical', reason: 'broken-reference', count: 1 }, 'a list is checked item by item')
})

t.test('a parent only new has is broken too, the other way round', async t => {
  const { neu, sidecar, both } = await setup(t)
  both(api => api.store.put('alert-rule', 'acme', 'r1', rule('r1')))
  neu.api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  await (await sidecar.get(`${RULES}/r1`)).arrayBuffer()
  const s = (await compared(sidecar, 1))!
  t.equal(s.results.critical, 1)
  t.equal(s.samples[0]!.detail, 'escalation-policy "ep-1" (at /escalationPolicyId) exists on new, not on old')
})

t.test('links that resolve on both sides are not drift; links that resolve on neither are dangling, reported, and not drift', async t => {
  const { sidecar, both } = await setup(t)
  both(api => {
    api.store.put('alert-rule', 'acme', 'r1', rule('r1'))
    api.store.put('alert-rule', 'acme', 'r2', { ...rule('r2', 'ep-gone'), name: 'differs on each side' + api.url })
    api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  })
  await (await sidecar.get(`${RULES}/r1`)).arrayBuffer()
  t.same((await compared(sidecar, 1))!.results.match, 1, 'the parent is on both sides: a match')
  await (await sidecar.get(`${RULES}/r2`)).arrayBuffer()
  const s = (await compared(sidecar, 2))!
  t.same([s.results.match, s.results.cosmetic, s.results.critical], [1, 1, 0], 'dangling on both sides changes nothing in the classification')
  t.equal(s.samples[0]!.detail, 'escalation-policy "ep-gone" (at /escalationPolicyId) exists on neither side', 'and the sample says so')
  t.same(s.topPointers.map(p => p.reason), [undefined])
  const text = await metrics(sidecar)
  t.match(text, /dualread_shadow_references_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",result="resolved"\} 1/)
  t.match(text, /dualread_shadow_references_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",result="dangling"\} 1/)
  t.notMatch(text, /result="broken"/)
})

t.test('the lookups are cached: many rules naming one parent cost one read per side until the answer is older than its TTL', async t => {
  let now = 10_000
  const { old, neu, sidecar, both } = await setup(t, { referenceCache: { ttlMs: 1000, now: () => now } })
  both(api => {
    for (let i = 1; i <= 20; i++) api.store.put('alert-rule', 'acme', `r${i}`, rule(`r${i}`))
    api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  })
  for (let i = 1; i <= 20; i++) {
    await (await sidecar.get(`${RULES}/r${i}`)).arrayBuffer()
    await compared(sidecar, i)
  }
  t.same([old.lookups.length, neu.lookups.length], [1, 1], '20 comparisons, one lookup on each side')
  await (await sidecar.get(`${RULES}?limit=20`)).arrayBuffer()
  await compared(sidecar, 21)
  t.same([old.lookups.length, neu.lookups.length], [1, 1], 'a list naming it 20 times: still no new read')
  now += 1001
  await (await sidecar.get(`${RULES}/r1`)).arrayBuffer()
  await compared(sidecar, 22)
  t.same([old.lookups.length, neu.lookups.length], [2, 2], 'read again once the answer is stale')
  t.equal((await slice(sidecar))!.results.match, 22)
})

t.test('the lookups never delay the client, and they hold the comparison\'s shadow slot (shadow.maxInFlight)', async t => {
  const { old, neu, sidecar, both } = await setup(t, { maxInFlight: 1 })
  both(api => {
    api.store.put('alert-rule', 'acme', 'r1', rule('r1'))
    api.store.put('alert-rule', 'acme', 'r2', rule('r2'))
    api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  })
  let release!: () => void
  old.hold = neu.hold = new Promise<void>(resolve => { release = resolve })
  const res = await sidecar.get(`${RULES}/r1`)
  t.equal(res.status, 200, 'answered while both lookups are held')
  await res.arrayBuffer()
  await eventually(() => old.lookups.length + neu.lookups.length, n => n === 2)
  t.equal((await slice(sidecar))?.comparisons ?? 0, 0, 'the comparison waits for its lookups')
  await (await sidecar.get(`${RULES}/r2`)).arrayBuffer()
  t.match(await metrics(sidecar), /dualread_shadow_skipped_total\{reason="max_in_flight"\} 1/, 'the second read finds the one slot taken')
  release()
  const s = (await compared(sidecar, 1))!
  t.same([s.comparisons, s.results.match], [1, 1])
})

t.test('a lookup that cannot tell (refused, timed out) gives no verdict: not broken', async t => {
  const { old, sidecar, both } = await setup(t)
  both(api => {
    api.store.put('alert-rule', 'acme', 'r1', rule('r1'))
    api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  })
  let release!: () => void
  old.hold = new Promise<void>(resolve => { release = resolve }) // old never answers: the lookup times out (shadow.timeoutMs)
  t.teardown(() => release())
  await (await sidecar.get(`${RULES}/r1`)).arrayBuffer()
  const s = (await compared(sidecar, 1))!
  t.same([s.results.match, s.results.critical], [1, 0])
  t.match(await metrics(sidecar), /dualread_shadow_references_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",result="unresolved"\} 1/)
})

t.test('a lookup refused (403) gives no verdict either, and conditional headers are not sent with it', async t => {
  const { oldUp, newUp } = await startPair(t)
  for (const up of [oldUp, newUp]) {
    up.behaviour = {
      status: n => up.received[n]!.url.includes('/escalation-policies/') && up === oldUp ? 403 : 200,
      body: (r: Received) => r.url.includes('/escalation-policies/') ? { id: 'ep-1' } : rule('r1'),
    }
  }
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${oldUp.url} }
  new: { url: ${newUp.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    references: { /escalationPolicyId: escalation-policy }
  - type: escalation-policy
    collection: /api/v1/tenants/:tenant/escalation-policies
    item: /api/v1/tenants/:tenant/escalation-policies/:id
rules:
  - name: default
    primary: old
    shadowPercent: 100
shadow: { recheckLagMs: 0 }
`)
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir })
  await (await fetch(`${sidecar.proxyUrl}${RULES}/r1`, { headers: { 'if-none-match': '"abc"', range: 'bytes=0-10', authorization: 'Bearer client' } })).arrayBuffer()
  const s = (await compared(sidecar, 1))!
  t.same([s.results.match, s.results.critical], [1, 0])
  t.match(await metrics(sidecar), /result="unresolved"\} 1/)
  const lookup = newUp.received.find(r => r.url.includes('/escalation-policies/'))!
  t.same([lookup.method, lookup.url, lookup.headers['if-none-match'], lookup.headers.range, lookup.headers.authorization], ['GET', EP_PATH, undefined, undefined, 'Bearer client'], 'the shadow read\'s headers, without the conditional ones')
})

t.test('with recheckLagMs, a broken link is looked up again: a parent copied meanwhile was lag, one still missing is critical', async t => {
  const { old, neu, sidecar, both } = await setup(t, { recheckLagMs: 20 })
  both(api => {
    api.store.put('alert-rule', 'acme', 'r1', rule('r1'))
    api.store.put('alert-rule', 'acme', 'r2', rule('r2', 'ep-2'))
  })
  old.api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' })
  old.api.store.put('escalation-policy', 'acme', 'ep-2', { id: 'ep-2' })
  // The sync copies ep-1 to new between the first lookup and the recheck.
  neu.onLookup = n => { if (n === 2) neu.api.store.put('escalation-policy', 'acme', 'ep-1', { id: 'ep-1' }) }
  await (await sidecar.get(`${RULES}/r1`)).arrayBuffer()
  const first = (await compared(sidecar, 1))!
  t.same([first.results.lag, first.results.critical], [1, 0], 'healed on the recheck: lag')
  t.same([old.lookups, neu.lookups], [[EP_PATH, EP_PATH], [EP_PATH, EP_PATH]], 'both sides read again, past the cache')
  neu.onLookup = undefined
  await (await sidecar.get(`${RULES}/r2`)).arrayBuffer()
  const second = (await compared(sidecar, 2))!
  t.equal(second.results.critical, 1, 'still missing after the recheck: critical')
  t.match(second.samples[0]!.detail, 'escalation-policy "ep-2" (at /escalationPolicyId) exists on old, not on new')
  t.equal(neu.lookups.filter(p => p.endsWith('/ep-2')).length, 2)
  t.match(await metrics(sidecar), /dualread_shadow_references_total\{resource_type="alert-rule",pointer="\/escalationPolicyId",result="broken"\} 1/, 'counted once, after the recheck')
})
