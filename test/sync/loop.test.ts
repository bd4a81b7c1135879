import { replacing } from '../helpers/state.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { policySchema, type PolicyInput } from '../../src/policy/schema.ts'
import { LeaseLostError, SyncLoop, syncDirection } from '../../src/sync/loop.ts'
import { openStateStore } from '../../src/state/open.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import type { StateStore } from '../../src/state/state-store.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { MemoryAdapter } from '../helpers/memory-adapter.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

function policy(over: Partial<PolicyInput> = {}) {
  return policySchema.parse({
    version: 1, authority: 'old',
    upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
    resources: [
      { type: 'alert-rule', collection: '/t/:tenant/rules', item: '/t/:tenant/rules/:id', version: '/version' },
      { type: 'setting', collection: '/settings', item: '/settings/:id' },
    ],
    rules: [{ name: 'default', primary: 'old' }],
    sync: { batchSize: 2, leaseTtlMs: 60_000, tenants: { list: '/tenants' } },
    ...over,
  })
}

async function setup(t: Test, over: Partial<PolicyInput> = {}, wrap?: (s: StateStore) => StateStore, authority?: 'old' | 'new') {
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const state = await openStateStore(`file:${join(scratchDir(t), 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const adapters = { old: new MemoryAdapter('old'), new: new MemoryAdapter('new') }
  const p = policy(over)
  const loop = new SyncLoop({ compiled: compilePolicy(p, 'h'), state: wrap ? wrap(state) : state, log, metrics, progress: new SyncProgress({ log, metrics }), adapters, recentChangesMax: 3, ...(authority ? { authority } : {}) })
  t.teardown(() => loop.stop())
  return { loop, state, adapters, logs, metrics }
}

t.test('the direction follows the authority unless the policy names one', async t => {
  t.same(syncDirection(policy()), { source: 'old', target: 'new' })
  t.same(syncDirection(policy({ authority: 'new' })), { source: 'new', target: 'old' })
  t.same(syncDirection(policy({ sync: { direction: 'old-to-new' } })), { source: 'old', target: 'new' })
  t.same(syncDirection(policy({ authority: 'old', sync: { direction: 'new-to-old' } })), { source: 'new', target: 'old' })
})

t.test('resources without a tenant are synced once; with no tenants at all the pass is complete', async t => {
  const { loop, adapters, metrics } = await setup(t)
  adapters.old.objects.set('setting//a', { v: 1 })
  adapters.old.objects.set('setting//b', { v: 2 })
  adapters.old.objects.set('setting//c', { v: 3 })
  const r = await loop.runOnce(1000)
  t.match(r, { upserted: 3, differences: 0 })
  t.same([...adapters.new.objects.keys()].sort(), ['setting//a', 'setting//b', 'setting//c'])
  const server = createServer((req, res) => metrics.handle(req, res))
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text()
  t.match(text, /dualread_sync_backfill_ratio\{resource_type="alert-rule"\} 1/, 'zero tenants: nothing left to do')
  t.match(text, /dualread_sync_backfill_ratio\{resource_type="setting"\} 1/)
})

t.test('changes: replayed keys, keys of removed types, keys absent on both sides, and the watermark', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/k1', { version: 1, v: 'a' })
  const soon = Date.now() + 60_000
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'k1', at: soon })
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'k1', at: soon })
  await state.changes.append({ resourceType: 'removed-type', tenant: 'acme', id: 'x', at: Date.now() })
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'never', at: Date.now() })
  const r = await loop.runOnce(1000)
  t.equal(adapters.new.objects.get('alert-rule/acme/k1') !== undefined, true, 'applied once from the stream')
  t.ok(r.skipped >= 1, 'the pass skipped k1: its change is newer than the page (the watermark rule)')
  t.ok(r.unchanged >= 1, 'a key absent on both sides is unchanged')
  t.equal((await state.checkpoints.getTombstones(['alert-rule\u0000acme\u0000never'])).size, 1, 'and remembered as deleted')
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'never', at: Date.now() })
  await loop.runOnce(1000)
  t.equal((await state.checkpoints.getTombstones(['alert-rule\u0000acme\u0000never'])).size, 1, 'its tombstone stays')
})

t.test('the watermark map is bounded', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  for (let i = 0; i < 6; i++) await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: `k${i}`, at: Date.now() + 60_000 })
  adapters.old.objects.set('alert-rule/acme/k0', { version: 1 })
  const r = await loop.runOnce(1000)
  t.equal(r.skipped, 0, 'k0 was forgotten (only the 3 newest are kept), so the pass did not skip it')
})

t.test('a store that ignores deletes never converges, and says so', async t => {
  const { loop, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.new.objects.set('alert-rule/acme/stray', { version: 1 })
  adapters.new.ignoreDeletes = true
  const r = await loop.runOnce(1000)
  t.match(r, { deleted: 1, differences: 1 })
})

t.test('losing the lease in the middle of applying stops the pass', async t => {
  let checks = 0
  const { loop, adapters } = await setup(t, {}, state => replacing(state, (part, method) => part === 'lease' && method === 'holds' ? async () => ++checks < 3 : undefined))
  adapters.old.tenants = ['acme']
  for (let i = 0; i < 4; i++) adapters.old.objects.set(`alert-rule/acme/k${i}`, { version: 1, i })
  await t.rejects(loop.runOnce(1000), LeaseLostError)
  t.ok(adapters.new.objects.size < 4, 'it stopped before writing everything')
})

t.test('a create the proxy saw without an id rescans its collection', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/server-id-1', { version: 1 })
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', at: Date.now() })
  t.equal((await loop.runOnce(1000)).differences, 0)
  t.ok(adapters.new.objects.has('alert-rule/acme/server-id-1'))
})

t.test('writes during a pass are applied before --once ends', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/server-id-1', { version: 1 })
  // A write lands while the pass lists the source.
  const listPage = adapters.old.listPage.bind(adapters.old)
  let announced = false
  adapters.old.listPage = async (...args) => {
    if (!announced) {
      announced = true
      adapters.old.objects.set('alert-rule/acme/during-pass', { version: 1 })
      await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'during-pass', at: Date.now() })
    }
    return listPage(...args)
  }
  const r = await loop.runOnce(1000)
  t.equal(r.differences, 0)
  t.ok(adapters.new.objects.has('alert-rule/acme/server-id-1'))
  t.ok(adapters.new.objects.has('alert-rule/acme/during-pass'))
})

t.test('one key at a time: concurrent applies of a key wait for each other', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/k', { version: 1 })
  let puts = 0
  let concurrent = 0
  let maxConcurrent = 0
  const put = adapters.new.put.bind(adapters.new)
  adapters.new.put = async (...args) => {
    puts++
    maxConcurrent = Math.max(maxConcurrent, ++concurrent)
    await new Promise(r => setTimeout(r, 20))
    concurrent--
    return put(...args)
  }
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'k', at: Date.now() })
  // The same loop twice at once (the same owner renews its own lease): both see the change.
  await Promise.allSettled([loop.runOnce(1000), loop.runOnce(1000)])
  t.equal(maxConcurrent, 1, 'never two writes of the key at once')
  t.ok(puts >= 1)
  t.ok(adapters.new.objects.has('alert-rule/acme/k'))
})

t.test('a renewal that finds the lease gone stops the leader', async t => {
  let renewals = 0
  const { loop, adapters, logs } = await setup(t, { sync: { batchSize: 2, leaseTtlMs: 300, tenants: { list: '/tenants' } } }, state => replacing(state, (part, method) => part === 'lease' && method === 'acquire'
    ? async (owner: string, ttl: number) => (++renewals === 2 ? { owner: 'someone-else', token: 999, expiresAt: Date.now() + ttl } : state.lease.acquire(owner, ttl))
    : undefined))
  adapters.old.tenants = []
  void loop.start()
  const deadline = Date.now() + 3000
  while (renewals < 3 && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
  t.ok(renewals >= 3, 'after losing the lease it went back to acquiring it')
  t.ok(logs.some(l => l.includes('sync lease acquired')))
})

t.test('a loop built before a write cutover stands down while the authority in force is the other one', async t => {
  const { loop, state, adapters, logs } = await setup(t, {}, undefined, 'old')
  await state.cutover.initialize('new')
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/a', { id: 'a' })
  void loop.start()
  await new Promise(r => setTimeout(r, 200))
  t.ok(logs.some(l => l.includes('stands down for one built the other way round')))
  t.equal(loop.lease, undefined, 'it gave the lease back')
  t.equal(adapters.new.objects.size, 0, 'and wrote nothing old → new')
})

t.test('a loop that cannot read the authority in force does not lead', async t => {
  const { loop, state, logs } = await setup(t)
  state.cutover.read = async () => { throw new Error('redis went away') }
  void loop.start()
  await new Promise(r => setTimeout(r, 200))
  t.ok(logs.some(l => l.includes('cannot read the write authority; retrying')))
  t.equal(loop.lease, undefined)
})

t.test('settling keys for a cutover: whole collections are scanned, unknown types skipped, and keys that stay different are counted', async t => {
  const { loop, state, adapters } = await setup(t)
  adapters.old.tenants = ['acme']
  adapters.old.objects.set('alert-rule/acme/a', { id: 'a', n: 1 })
  adapters.old.objects.set('alert-rule/acme/b', { id: 'b', n: 2 })
  const summary = { scanned: 0, upserted: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 }
  void loop.start() // settling writes, so it needs the lease
  await new Promise(r => setTimeout(r, 100))
  const change = (id?: string, resourceType = 'alert-rule') => ({ offset: '1', resourceType, tenant: 'acme', at: Date.now(), ...(id ? { id } : {}) })
  t.equal(await loop.settle([change(undefined), change('x', 'gone-type')], Date.now() + 1000, summary), 0)
  t.same(adapters.new.objects.get('alert-rule/acme/b'), { id: 'b', n: 2 }, 'the collection was made equal')
  adapters.old.objects.set('alert-rule/acme/a', { id: 'a', n: 3 })
  adapters.new.put = async () => undefined // a target that acknowledges writes and keeps none
  t.equal(await loop.settle([change('a')], Date.now() + 60, summary), 1, 'a key that stays different is counted once the time is up')
  adapters.old.objects.delete('alert-rule/acme/b')
  adapters.new.ignoreDeletes = true
  t.equal(await loop.settle([change('b')], Date.now() + 60, summary), 1, 'so is a deletion the target does not carry out')
})

t.test('a store that keeps refusing is one line when the scan pauses, not one per retry, and one when it works again', async t => {
  const { loop, adapters, logs } = await setup(t)
  let refusals = 0
  let refusing = true
  const listTenants = adapters.old.listTenants.bind(adapters.old)
  adapters.old.listTenants = async () => {
    if (!refusing) return listTenants()
    refusals++
    throw new Error('401 from old: check upstreams.old.headers')
  }
  void loop.start()
  const deadline = Date.now() + 10_000
  while (refusals < 3 && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  t.ok(refusals >= 3, 'retried')
  t.equal(logs.filter(l => l.includes('sync paused by an error')).length, 1, 'one line for the whole outage')
  t.ok(logs.some(l => l.includes('401 from old: check upstreams.old.headers')), 'with the reason')
  refusing = false
  const until = Date.now() + 10_000
  while (!logs.some(l => l.includes('full scan works again')) && Date.now() < until) await new Promise(r => setTimeout(r, 50))
  t.match(logs.find(l => l.includes('full scan works again')), /after \d+ error\(s\)/)
})
