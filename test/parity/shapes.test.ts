// How each resource shape's answers are compared (pure: no sockets).
import t from 'tap'
import { compareAnswers, compilePlan } from '../../src/parity/compare.ts'
import { explainDiff } from '../../src/parity/redact.ts'
import { rememberSecret } from '../../src/telemetry/secrets.ts'
import { json, resourceWith } from './fixtures.ts'

const receivers = compilePlan(resourceWith({ collection: '/api/v2/receivers', item: undefined, list: { items: '' }, id: '/name', compare: { critical: ['/type'] } }))
const status = compilePlan(resourceWith({ collection: undefined, item: undefined, singleton: '/api/v2/status', compare: { ignore: ['/uptime'], critical: ['/cluster/status'] } }))
const rules = compilePlan(resourceWith({
  collection: '/api/v1/tenants/:tenant/rules', item: '/api/v1/tenants/:tenant/folders/:folder/rules/:uid',
  list: { items: '/data/rules' }, id: '/uid', params: { folder: '/folderUid' }, compare: { critical: ['/title'] },
}))

t.test('a top-level array is a list: matched by id whatever the order, an item missing is critical at /*', async t => {
  const a = { name: 'pager', type: 'pagerduty' }
  const b = { name: 'email', type: 'email' }
  t.equal(compareAnswers(receivers, 'collection', json([a, b]), json([b, a])).result, 'match')
  t.match(compareAnswers(receivers, 'collection', json([a, b]), json([b])), { result: 'critical', pointers: [{ pointer: '/*', severity: 'critical' }] })
  t.match(compareAnswers(receivers, 'collection', json([a]), json([{ ...a, type: 'email' }])), { result: 'critical', pointers: [{ pointer: '/*/type', severity: 'critical' }] })
  t.match(compareAnswers(receivers, 'collection', json({ receivers: [a] }), json([a])), { result: 'error', detail: 'old body has no item list at the top level (list.items: "")' })
})

t.test('a singleton is compared whole, with its compare rules at the document\'s root', async t => {
  const doc = (over: Record<string, unknown>) => ({ cluster: { status: 'ready', peers: [] }, uptime: '2024-01-01T00:00:00Z', ...over })
  t.equal(compareAnswers(status, 'singleton', json(doc({})), json(doc({ uptime: '2024-06-01T00:00:00Z' }))).result, 'match', 'another uptime is ignored')
  t.match(compareAnswers(status, 'singleton', json(doc({})), json(doc({ cluster: { status: 'settling', peers: [] } }))), { result: 'critical', pointers: [{ pointer: '/cluster/status', severity: 'critical' }] })
})

t.test('items of a several-parameter path are matched by all of them, and one missing says which pointer', async t => {
  const cpu = { uid: 'r1', folderUid: 'f1', title: 'cpu' }
  const disk = { uid: 'r1', folderUid: 'f2', title: 'disk' }
  const page = (items: unknown[]) => json({ data: { rules: items } })
  t.equal(compareAnswers(rules, 'collection', page([cpu, disk]), page([disk, cpu])).result, 'match', 'one uid in two folders: two items')
  t.match(compareAnswers(rules, 'collection', page([cpu]), page([{ uid: 'r1', title: 'cpu' }])), { result: 'error', detail: 'new item 0 has no key at /folderUid (check the resource\'s params)' })
  t.match(compareAnswers(rules, 'collection', page([cpu]), page([{ ...cpu, uid: undefined }])), { result: 'error', detail: 'new item 0 has no id at /uid (check the resource\'s id pointer)' })
})

t.test('a string in a sample that holds a credential dualread sends is masked, whatever its key', async t => {
  rememberSecret('Bearer echoed-s3cret-42')
  const ops = explainDiff(status, { note: 'ok' }, { note: 'refused echoed-s3cret-42' })
  t.match(ops, [{ path: '/note', old: 'ok', new: /^\[redacted:[0-9a-f]{8}\]$/ }])
})
