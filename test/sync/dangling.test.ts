// Dangling references and the change drain's order, over in-memory stores: resources without a
// tenant are looked at once however many tenants there are, the report is bounded, and a batch
// of changes writes parents before the children that name them.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { policySchema, type PolicyInput } from '../../src/policy/schema.ts'
import { openStateStore } from '../../src/state/open.ts'
import { findDangling, MAX_REPORTED, renderDangling } from '../../src/sync/dangling.ts'
import { SyncLoop } from '../../src/sync/loop.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { MemoryAdapter } from '../helpers/memory-adapter.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import { captureLog } from '../helpers/sidecar.ts'

function policy(resources: PolicyInput['resources']) {
  return policySchema.parse({
    version: 1, authority: 'old',
    upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
    resources,
    rules: [{ name: 'default', primary: 'old' }],
    sync: { batchSize: 50, leaseTtlMs: 60_000, tenants: { list: '/tenants' } },
  })
}

const TENANTLESS = policy([
  { type: 'silence', collection: '/silences', item: '/silences/:id', references: { '/receiver': 'receiver' } },
  { type: 'receiver', collection: '/receivers', item: '/receivers/:id' },
  { type: 'rule', collection: '/t/:tenant/rules', item: '/t/:tenant/rules/:id', references: { '/receiver': 'receiver' } },
])

t.test('resources without a tenant are looked at once, whatever the number of tenants', async t => {
  const adapters = { old: new MemoryAdapter('old'), new: new MemoryAdapter('new') }
  adapters.old.objects.set('receiver//pager', { id: 'pager' })
  adapters.old.objects.set('silence//s1', { id: 's1', receiver: 'gone' })
  adapters.old.objects.set('silence//s2', { id: 's2', receiver: 'pager' })
  adapters.old.objects.set('rule/a/r1', { id: 'r1', receiver: 'pager' })
  adapters.old.objects.set('rule/b/r1', { id: 'r1', receiver: 'mail' })
  const report = await findDangling(TENANTLESS, adapters, ['a', 'b'], ['old', 'new'], 1)
  t.same(report, {
    count: 2,
    found: [
      { side: 'old', resourceType: 'silence', tenant: '', id: 's1', pointer: '/receiver', references: { type: 'receiver', id: 'gone' } },
      { side: 'old', resourceType: 'rule', tenant: 'b', id: 'r1', pointer: '/receiver', references: { type: 'receiver', id: 'mail' } },
    ],
  })
  t.match(renderDangling(report), 'old: silence s1 names receiver "gone" at /receiver, which old does not have')
  t.same(await findDangling(TENANTLESS, adapters, [], ['old'], 10), { count: 1, found: [report.found[0]] }, 'no tenants: the resources without one')
  t.same(await findDangling(policy([{ type: 'x', collection: '/x', item: '/x/:id' }]), adapters, [], ['old'], 10), { count: 0, found: [] }, 'no references, nothing listed')
})

t.test('a link to a type paired by natural key names the object by its store\'s id, not by the key the sync lists it under', async t => {
  const keyed = policy([
    { type: 'silence', collection: '/silences', item: '/silences/:id', references: { '/receiver': 'receiver' } },
    { type: 'receiver', collection: '/receivers', item: '/receivers/:id', naturalKey: ['/name'], write: { create: { method: 'POST', path: 'collection' } } },
  ])
  const adapters = { old: new MemoryAdapter('old'), new: new MemoryAdapter('new') }
  adapters.old.objects.set('receiver//pager', { id: 'rcv-1', name: 'pager' })
  adapters.old.objects.set('receiver//mail', { name: 'mail' })
  adapters.old.objects.set('silence//s1', { id: 's1', receiver: 'rcv-1' })
  adapters.old.objects.set('silence//s2', { id: 's2', receiver: 'pager' })
  t.same(await findDangling(keyed, adapters, [], ['old'], 10), {
    count: 1,
    found: [{ side: 'old', resourceType: 'silence', tenant: '', id: 's2', pointer: '/receiver', references: { type: 'receiver', id: 'pager' } }],
  }, 'rcv-1 exists; "pager" is a natural key, no id, and the receiver without an id is named by nothing')
})

t.test('the report keeps MAX_REPORTED references and counts the rest', async t => {
  const adapters = { old: new MemoryAdapter('old'), new: new MemoryAdapter('new') }
  for (let i = 0; i <= MAX_REPORTED; i++) adapters.old.objects.set(`silence//s${String(i).padStart(3, '0')}`, { receiver: `r${i}` })
  const report = await findDangling(TENANTLESS, adapters, [], ['old'], 1000)
  t.same([report.count, report.found.length], [MAX_REPORTED + 1, MAX_REPORTED])
  t.match(renderDangling(report), `  … and 1 more\n`)
})

async function drainSetup(t: Test) {
  const { log } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const state = await openStateStore(`file:${join(scratchDir(t), 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const adapters = { old: new MemoryAdapter('old'), new: new MemoryAdapter('new') }
  const p = policy([
    { type: 'rule', collection: '/t/:tenant/rules', item: '/t/:tenant/rules/:id', references: { '/ep': 'ep' } },
    { type: 'ep', collection: '/t/:tenant/eps', item: '/t/:tenant/eps/:id' },
  ])
  const loop = new SyncLoop({ compiled: compilePolicy(p, 'h'), state, log, metrics, progress: new SyncProgress({ log, metrics }), adapters })
  t.teardown(() => loop.stop())
  adapters.old.tenants = ['acme']
  return { state, adapters, loop }
}

t.test('a batch of changes writes the parent before the child that names it, whatever the stream order', async t => {
  const { state, adapters, loop } = await drainSetup(t)
  adapters.old.objects.set('rule/acme/r1', { id: 'r1', ep: 'e1' })
  adapters.old.objects.set('ep/acme/e1', { id: 'e1' })
  await state.changes.append({ resourceType: 'rule', tenant: 'acme', id: 'r1', at: Date.now() })
  await state.changes.append({ resourceType: 'ep', tenant: 'acme', id: 'e1', at: Date.now() })
  // --once drains the stream before its pass: both keys are applied by the drain, in one batch.
  const r = await loop.runOnce(1000)
  t.match(r, { upserted: 2, differences: 0, dangling: { count: 0 } })
  t.same([...adapters.new.objects.keys()], ['ep/acme/e1', 'rule/acme/r1'], 'the target saw the parent first')
})

t.test('a change naming a whole collection makes it equal, deletions included', async t => {
  const { state, adapters, loop } = await drainSetup(t)
  adapters.old.objects.set('ep/acme/e1', { id: 'e1' })
  adapters.new.objects.set('ep/acme/e1', { id: 'e1' })
  adapters.new.objects.set('ep/acme/gone', { id: 'gone' })
  await state.changes.append({ resourceType: 'ep', tenant: 'acme', at: Date.now() })
  // --once drains the stream first: the whole-collection change scans the scope, then the pass finds nothing left.
  const r = await loop.runOnce(1000)
  t.match(r, { deleted: 1, differences: 0 })
  t.same([...adapters.new.objects.keys()], ['ep/acme/e1'])
})
