// The sync against real HTTP servers shaped like real control planes: a singleton, a collection
// without an item path, items at a pointer other than /items and at the top level, and an item
// path with several parameters.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { RestAdapter } from '../../src/sync/adapter.ts'
import { Throttle } from '../../src/sync/throttle.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { ShapeApi, type ListRoute } from '../helpers/shape-api.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const LISTS: ListRoute[] = [
  { path: /^\/api\/v1\/tenants\/([^/]+)\/rules$/, members: m => new RegExp(`^/api/v1/tenants/${m[1]}/folders/[^/]+/rules/[^/]+$`), wrap: rules => ({ data: { rules } }) },
  { path: /^\/api\/v2\/receivers$/, members: () => /^\/receivers\//, wrap: items => items },
  { path: /^\/api\/v2\/silences$/, members: () => /^\/api\/v2\/silence\/[^/]+$/, wrap: items => items },
]

function policy(dir: string, oldUrl: string, newUrl: string): string {
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:
  - type: notification-policy
    singleton: /api/v1/tenants/:tenant/policy-tree
    write: { method: POST }
  - type: receiver
    collection: /api/v2/receivers
    list: { items: "" }
    id: /name
  - type: rule
    collection: /api/v1/tenants/:tenant/rules
    item: /api/v1/tenants/:tenant/folders/:folder/rules/:uid
    list: { items: /data/rules }
    id: /uid
    params: { folder: /folderUid }
  - type: silence
    collection: /api/v2/silences
    item: /api/v2/silence/:id
    list: { items: "" }
  - type: status
    singleton: /api/v2/status
    sync: false
rules:
  - name: default
    primary: old
sync:
  state: file:${join(dir, 'state')}
  tenants: { list: /api/v1/tenants }
`)
  return file
}

async function stores(t: { teardown(fn: () => unknown): void }) {
  const old = await ShapeApi.start(t, { lists: LISTS })
  const neu = await ShapeApi.start(t, { lists: LISTS })
  for (const api of [old, neu]) api.docs.set('/api/v1/tenants', { items: [{ id: 'acme' }, { id: 'globex' }] })
  old.docs.set('/api/v1/tenants/acme/policy-tree', { receiver: 'pager', routes: [{ match: 'team=db', receiver: 'db-oncall' }] })
  neu.docs.set('/api/v1/tenants/globex/policy-tree', { receiver: 'left-over' })
  old.docs.set('/receivers/pager', { name: 'pager', type: 'pagerduty' })
  neu.docs.set('/receivers/email', { name: 'email', type: 'email' })
  old.docs.set('/api/v1/tenants/acme/folders/f1/rules/r1', { uid: 'r1', folderUid: 'f1', title: 'cpu' })
  old.docs.set('/api/v1/tenants/acme/folders/eu%2Fwest/rules/r2', { uid: 'r2', folderUid: 'eu/west', title: 'disk' })
  neu.docs.set('/api/v1/tenants/acme/folders/f1/rules/r9', { uid: 'r9', folderUid: 'f1', title: 'stale' })
  old.docs.set('/api/v2/silence/s1', { id: 's1', comment: 'maintenance' })
  old.docs.set('/api/v2/status', { uptime: '2024-01-01T00:00:00Z' })
  neu.docs.set('/api/v2/status', { uptime: '2024-06-01T00:00:00Z' })
  return { old, neu }
}

t.test('the sync copies a singleton, items under any pointer and at the top level, and items whose paths have several parameters', async t => {
  const { old, neu } = await stores(t)
  const dir = scratchDir(t)
  const file = policy(dir, old.url, neu.url)
  const { log } = captureLog()

  const first = await syncOnce({ policyFile: file, stateDir: dir, log })
  t.match(first, { converged: true, errors: 0, differences: 0 })
  t.same(neu.under('/api/v1/tenants/acme/folders'), old.under('/api/v1/tenants/acme/folders'), 'each rule written to the path its folder and uid make; the stale one deleted')
  t.same(neu.docs.get('/api/v1/tenants/acme/policy-tree'), old.docs.get('/api/v1/tenants/acme/policy-tree'), 'the singleton copied whole')
  t.notOk(neu.docs.has('/api/v1/tenants/globex/policy-tree'), 'a singleton the source does not have is deleted')
  t.same(neu.under('/api/v2/silence'), old.under('/api/v2/silence'), 'a top-level array list with an item path is synced')
  t.same(neu.under('/receivers'), { '/receivers/email': { name: 'email', type: 'email' } }, 'a collection without an item path is compared, never written')
  t.same(neu.docs.get('/api/v2/status'), { uptime: '2024-06-01T00:00:00Z' }, 'a resource with sync: false is never written, and its difference is not counted')
  t.notOk(old.seen.some(s => s.url === '/api/v2/status') || neu.seen.some(s => s.url === '/api/v2/status'), 'nor even read')
  t.same(neu.writes().map(w => `${w.method} ${w.url}`).sort(), [
    'DELETE /api/v1/tenants/acme/folders/f1/rules/r9',
    'DELETE /api/v1/tenants/globex/policy-tree',
    'POST /api/v1/tenants/acme/policy-tree',
    'PUT /api/v1/tenants/acme/folders/eu%2Fwest/rules/r2',
    'PUT /api/v1/tenants/acme/folders/f1/rules/r1',
    'PUT /api/v2/silence/s1',
  ], 'the singleton with its write.method, items at their own paths')
  t.notOk(old.seen.some(s => s.url.startsWith('/api/v2/silences?') || s.url.startsWith('/api/v2/receivers?')), 'a top-level array is asked for whole: no limit or cursor')

  neu.seen.length = 0
  const second = await syncOnce({ policyFile: file, stateDir: dir, log })
  t.match(second, { converged: true, upserted: 0, deleted: 0 })
  t.same(neu.writes(), [], 'a second pass changes nothing')
})

t.test('an item of a list without the value one of its path parameters comes from is an error that names the pointer', async t => {
  const { old, neu } = await stores(t)
  old.docs.set('/api/v1/tenants/acme/folders/f2/rules/r3', { uid: 'r3', title: 'no folder' })
  const dir = scratchDir(t)
  const { log, logs } = captureLog()
  const result = await syncOnce({ policyFile: policy(dir, old.url, neu.url), stateDir: dir, log }).catch((err: Error) => err)
  t.match(result, { message: /old: item \d of \/api\/v1\/tenants\/acme\/rules\?limit=200 has nothing at \/folderUid, which identifies it \(check the resource's id and params\)/ })
  t.notMatch(logs.join(''), /undefined/, 'no object is written under an "undefined" id')
  t.notOk(neu.writes().some(w => w.url.includes('undefined')))
})

t.test('a list described as a top-level array that answers something else is an error that says so', async t => {
  const { old, neu } = await stores(t)
  const dir = scratchDir(t)
  const other = await ShapeApi.start(t, { lists: LISTS.filter(l => !String(l.path).includes('silences')) })
  for (const [path, doc] of old.docs) other.docs.set(path, doc)
  other.docs.set('/api/v2/silences', { silences: [] })
  const { log } = captureLog()
  const err = await syncOnce({ policyFile: policy(dir, other.url, neu.url), stateDir: dir, log }).catch((e: Error) => e)
  t.match(err, { message: 'old: /api/v2/silences has no item list at the top level (list.items: "")' })
})

t.test('the adapter refuses to read or write one object of a collection without an item path, and says why', async t => {
  const dir = scratchDir(t)
  const parsed = parsePolicy(readFileSync(policy(dir, 'http://127.0.0.1:1', 'http://127.0.0.1:2'), 'utf8'), 'policy.yaml')
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const adapter = new RestAdapter('new', parsed.policy, new Throttle(10), metrics)
  t.teardown(() => adapter.close())
  const receiver = parsed.policy.resources.find(r => r.type === 'receiver')!
  await t.rejects(adapter.put(receiver, '', 'pager', {}), { message: 'receiver has no item path: the sync cannot read or write one of its objects' })
})
