// Shadow reads of every resource shape through the real proxy, against real HTTP servers: a
// singleton compared whole, a top-level array without an item path compared as a set by its id,
// an item path with several parameters; and what explain says matched.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { explainRequest } from '../../src/cli/explain.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { ShapeApi, type ListRoute } from '../helpers/shape-api.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const LISTS: ListRoute[] = [
  { path: /^\/api\/v2\/receivers$/, members: () => /^\/receivers\//, wrap: items => items },
  { path: /^\/api\/v1\/tenants\/([^/]+)\/rules$/, members: m => new RegExp(`^/api/v1/tenants/${m[1]}/folders/[^/]+/rules/[^/]+$`), wrap: rules => ({ data: { rules } }) },
]

const POLICY = (oldUrl: string, newUrl: string) => `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:
  - type: status
    singleton: /api/v2/status
    compare: { ignore: [/uptime], critical: [/cluster/status] }
  - type: receiver
    collection: /api/v2/receivers
    list: { items: "" }
    id: /name
    compare: { critical: [/type] }
  - type: rule
    collection: /api/v1/tenants/:tenant/rules
    item: /api/v1/tenants/:tenant/folders/:folder/rules/:uid
    list: { items: /data/rules }
    id: /uid
    params: { folder: /folderUid }
    compare: { critical: [/title] }
rules:
  - name: default
    primary: old
    shadowPercent: 100
shadow: { recheckLagMs: 0 }
sync: { enabled: false }
`

interface Slice { resourceType: string, results: Record<string, number>, topPointers: Array<{ pointer: string, severity: string }>, samples: Array<{ detail?: string }> }

async function slice(sidecar: TestSidecar, type: string, seen: number): Promise<Slice | undefined> {
  const read = async () => ((await (await fetch(`${sidecar.adminUrl}/status`)).json()) as { parity: Slice[] }).parity.find(p => p.resourceType === type)
  return eventually(read, s => s !== undefined && Object.values(s.results).reduce((a, b) => a + b, 0) >= seen)
}

async function setup(t: { teardown(fn: () => unknown): void, testdir(): string }) {
  const old = await ShapeApi.start(t, { lists: LISTS })
  // The new store lists in the opposite order: items are matched by what identifies them, never by place.
  const neu = await ShapeApi.start(t, { lists: LISTS.map(l => ({ ...l, wrap: items => l.wrap([...items].reverse()) })) })
  const dir = scratchDir(t)
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, POLICY(old.url, neu.url))
  const sidecar = await startTestSidecar(t, { policyFile, stateDir: dir, redisUrl: null })
  return { old, neu, sidecar }
}

t.test('a singleton is compared whole: a different uptime matches, a different cluster status is critical at its pointer', async t => {
  const { old, neu, sidecar } = await setup(t)
  old.docs.set('/api/v2/status', { cluster: { status: 'ready' }, uptime: '2024-01-01T00:00:00Z' })
  neu.docs.set('/api/v2/status', { cluster: { status: 'ready' }, uptime: '2024-06-01T00:00:00Z' })
  await (await sidecar.get('/api/v2/status')).arrayBuffer()
  t.match(await slice(sidecar, 'status', 1), { results: { match: 1, error: 0 } }, 'no "no item list" error: a singleton has none')
  neu.docs.set('/api/v2/status', { cluster: { status: 'settling' }, uptime: '2024-06-01T00:00:00Z' })
  await (await sidecar.get('/api/v2/status')).arrayBuffer()
  t.match(await slice(sidecar, 'status', 2), { results: { match: 1, critical: 1 }, topPointers: [{ pointer: '/cluster/status', severity: 'critical' }] })
})

t.test('a top-level array without an item path is compared as a set of items by its id: order does not matter, a missing item is critical', async t => {
  const { old, neu, sidecar } = await setup(t)
  old.docs.set('/receivers/a', { name: 'pager', type: 'pagerduty' })
  old.docs.set('/receivers/b', { name: 'email', type: 'email' })
  neu.docs.set('/receivers/a', { name: 'email', type: 'email' })
  neu.docs.set('/receivers/b', { name: 'pager', type: 'pagerduty' })
  await (await sidecar.get('/api/v2/receivers')).arrayBuffer()
  t.match(await slice(sidecar, 'receiver', 1), { results: { match: 1 } }, 'the same receivers in another order match')
  neu.docs.delete('/receivers/b')
  await (await sidecar.get('/api/v2/receivers')).arrayBuffer()
  t.match(await slice(sidecar, 'receiver', 2), { results: { match: 1, critical: 1 }, topPointers: [{ pointer: '/*', severity: 'critical' }] }, 'a missing receiver is critical at /*, the items of the top-level array')
})

t.test('items of a list under any pointer are matched by every parameter that identifies them; one item is read at its several-parameter path', async t => {
  const { old, neu, sidecar } = await setup(t)
  for (const api of [old, neu]) {
    api.docs.set('/api/v1/tenants/acme/folders/f1/rules/r1', { uid: 'r1', folderUid: 'f1', title: 'cpu' })
    api.docs.set('/api/v1/tenants/acme/folders/f2/rules/r1', { uid: 'r1', folderUid: 'f2', title: 'disk' })
  }
  await (await sidecar.get('/api/v1/tenants/acme/rules')).arrayBuffer()
  t.match(await slice(sidecar, 'rule', 1), { results: { match: 1 } }, 'two rules with one uid in two folders are two items, not a repeated id')
  neu.docs.set('/api/v1/tenants/acme/folders/f2/rules/r1', { uid: 'r1', folderUid: 'f2', title: 'memory' })
  const res = await sidecar.get('/api/v1/tenants/acme/folders/f2/rules/r1')
  t.same(await res.json(), { uid: 'r1', folderUid: 'f2', title: 'disk' })
  t.match(await slice(sidecar, 'rule', 2), { results: { match: 1, critical: 1 }, topPointers: [{ pointer: '/title', severity: 'critical' }] })
})

t.test('policy explain says which shape a path matched', async t => {
  const parsed = parsePolicy(POLICY('http://127.0.0.1:1', 'http://127.0.0.1:2'), 'policy.yaml')
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  const compiled = compilePolicy(parsed.policy, parsed.hash)
  const shape = (path: string) => explainRequest(compiled, { method: 'GET', path, headers: {} }).find(l => l.startsWith('shape:'))
  t.equal(shape('/api/v2/status'), 'shape:     singleton: one document, compared whole')
  t.equal(shape('/api/v2/receivers'), 'shape:     collection without an item path: a list (the answer is the array itself), compared as a set of items matched by /name')
  t.equal(shape('/api/v1/tenants/acme/rules'), 'shape:     collection + item: the list (items at /data/rules), compared as a set of items matched by /folderUid + /uid')
  t.equal(shape('/api/v1/tenants/acme/folders/f1/rules/r1'), 'shape:     collection + item: one object, compared whole')
  t.match(explainRequest(compiled, { method: 'GET', path: '/api/v2/status', headers: {} }), ['request:   GET /api/v2/status', 'resource:  status (singleton /api/v2/status)'])
})
