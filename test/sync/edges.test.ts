import { replacing } from '../helpers/state.ts'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { encodeCursor } from '../../src/reference/pagination.ts'
import { startSyncProcess, syncOnce } from '../../src/sidecar/sync-process.ts'
import { RestAdapter, type ResourceAdapter } from '../../src/sync/adapter.ts'
import { SyncLoop } from '../../src/sync/loop.ts'
import { openStateStore } from '../../src/state/open.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import type { StateStore } from '../../src/state/state-store.ts'
import { Throttle } from '../../src/sync/throttle.ts'
import { ReadYourWrites } from '../../src/proxy/read-your-writes.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { runCli } from '../helpers/cli.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { contents, startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { refusedPort, startPair } from '../helpers/upstream.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { writePolicy } from '../helpers/policy.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'


function compiled(file: string) {
  const r = parsePolicy(readFileSync(file, 'utf8'), file)
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return compilePolicy(r.policy, r.hash)
}

async function loopFor(t: Test, policyFile: string, state: StateStore, adapters?: Record<'old' | 'new', ResourceAdapter>, log = captureLog().log) {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const loop = new SyncLoop({ compiled: compiled(policyFile), state, log, metrics, progress: new SyncProgress({ log, metrics }), ...(adapters ? { adapters } : {}) })
  return loop
}


t.test('a restart from a checkpoint replays no page before it, and still finds deletions', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 60 } } })
  const { log } = captureLog()
  // As if a previous run was killed after applying the first page of alert rules.
  const firstPage = Object.keys(contents(f.old)).filter(k => k.startsWith('alert-rule/')).map(k => k.split('/')[2]!).sort().slice(0, 25)
  for (const id of firstPage) f.new.store.put('alert-rule', 'acme', id, { ...f.old.store.get('alert-rule', 'acme', id) })
  f.new.store.put('alert-rule', 'acme', 'zz-stray', { name: 'only in new' })
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  await state.checkpoints.setCursor('alert-rule\u0000acme', encodeCursor(firstPage[24]!))
  await state.close()
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { converged: true, deleted: 1 })
  t.equal(r.upserted, 35 + 60, 'the 35 alert rules after the checkpoint and the 60 teams; the first page was not written again')
  t.same(contents(f.new), contents(f.old))
})

t.test('a key that fails to apply is counted and logged; the pass carries on and does not claim convergence', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 5 } } })
  const { log, logs } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const policy = compiled(f.policyFile).policy
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const real = { old: new RestAdapter('old', policy, new Throttle(1000), metrics), new: new RestAdapter('new', policy, new Throttle(1000), metrics) }
  const failing: ResourceAdapter = {
    side: 'new' as const,
    put: async (resource: Parameters<ResourceAdapter['put']>[0], tenant: string, id: string, doc: unknown) => {
      if (id.endsWith('0003')) throw new Error('injected failure')
      return real.new.put(resource, tenant, id, doc)
    },
    listPage: real.new.listPage.bind(real.new), get: real.new.get.bind(real.new), delete: real.new.delete.bind(real.new),
    listTenants: real.new.listTenants.bind(real.new), close: real.new.close.bind(real.new),
  }
  const loop = await loopFor(t, f.policyFile, state, { old: real.old, new: failing }, log)
  const r = await loop.runOnce(1000)
  t.match(r, { errors: 2, upserted: 8, differences: 2 })
  t.ok(logs.some(l => l.includes('sync could not apply a key') && l.includes('injected failure')))
  await loop.stop()
})

t.test('--once against an unreachable or failing store is a clear error and exit 1', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { errorRate: 1 } } })
  const failing = await runCli('sync', '--policy', f.policyFile, '--once', '--state-dir', dir)
  t.match(failing, { code: 1, out: /dualread sync failed: new answered 500 to GET \/api\/v1\/tenants\/acme\/alert-rules/ })
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace(f.new.url, `http://127.0.0.1:${await refusedPort()}`))
  const refused = await runCli('sync', '--policy', f.policyFile, '--once', '--state-dir', dir)
  t.match(refused, { code: 1, out: /dualread sync failed: .*ECONNREFUSED|connect/ })
  const broken = await runCli('sync', '--policy', join(dir, 'missing.yaml'), '--once', '--state-dir', join(dir, 'elsewhere'))
  t.match(broken, { code: 1, out: /no valid policy/ })
})

t.test('--once waits for the lease, and gives up if another process keeps it', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const f = await startSyncFixture(t, dir)
  f.writePolicy({ state: REDIS_URL, migration })
  const { log } = captureLog()
  const state = await openStateStore(REDIS_URL, migration, log)
  t.teardown(() => state.close())
  t.ok(await state.lease.acquire('someone-else', 60_000))
  const loop = await loopFor(t, f.policyFile, state)
  await t.rejects(loop.runOnce(300), { message: /another sync process holds the lease/ })
})

t.test('a leader that loses its lease stops writing and stands by; a state error pauses it', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 3 } } })
  // A long lease period: the loss is found by the fencing check before any write, not by a renewal.
  writeFileSync(f.writePolicy({ state: REDIS_URL, migration }), readFileSync(f.policyFile, 'utf8').replace('leaseTtlMs: 1500', 'leaseTtlMs: 60000'))
  const { log, logs } = captureLog()
  const state = await openStateStore(REDIS_URL, migration, log)
  t.teardown(() => state.close())
  // A store whose change stream fails once: the loop must log, pause and carry on.
  const failures: Record<string, number> = { 'changes.read': 1, 'checkpoints.getCursor': 1 }
  const flaky = replacing(state, (part, method) => {
    const name = `${part}.${method}`
    if ((failures[name] ?? 0) === 0) return undefined
    return async () => { failures[name]!--; throw new Error(`injected state failure in ${name}`) }
  })
  const loop = await loopFor(t, f.policyFile, flaky, undefined, log)
  void loop.start()
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 6)
  await eventually(() => logs.join(''), l => l.includes('sync paused by an error'))
  t.ok(logs.some(l => l.includes('injected state failure')))
  // Another process takes the lease (as after this one was paused past the lease period).
  await state.lease.release(loop.lease!)
  t.ok(await state.lease.acquire('usurper', 60_000))
  f.old.store.put('alert-rule', 'acme', 'after-takeover', { name: 'x' })
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'after-takeover', at: Date.now() })
  await eventually(() => logs.join(''), l => l.includes('lease passed to another process'))
  t.ok(logs.some(l => l.includes('injected state failure in checkpoints.getCursor')), 'a failed scan is paused and retried too')
  await new Promise(r => setTimeout(r, 300))
  t.equal(f.new.store.get('alert-rule', 'acme', 'after-takeover'), undefined, 'the old leader did not write')
  await loop.stop()
})

t.test('a policy reload restarts the sync with it: flipping the authority reverses the direction', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  const { log, logs } = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 4)
  // The edit runs the write cutover; a write made on new without the proxy is found by the next full scan.
  f.writePolicy({ authority: 'new' })
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace('fullScanIntervalSec: 3600', 'fullScanIntervalSec: 1'))
  const status = await eventually(async () => (await (await fetch(sync.adminUrl + '/status')).json()) as { direction: { from: string } }, s => s.direction.from === 'new')
  t.same(status.direction, { from: 'new', to: 'old' })
  t.ok(logs.some(l => l.includes('policy reloaded; the sync restarts with it')))
  f.new.store.put('team', 'acme', 'made-in-new', { name: 'after the write cutover' })
  await eventually(() => f.old.store.get('team', 'acme', 'made-in-new'), v => v !== undefined, 5000)
  t.ok(f.old.store.get('team', 'acme', 'made-in-new'), 'writes to new now reach old')
})

t.test('an alias mistake in the policy on reload is rejected; the sync keeps running on the last good policy', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  const { log, logs } = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 4)
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace(/^authority: old$/m, 'authority: *old'))
  type Status = { policy: { generation: number, lastError: null | { problems: string[] } } }
  const status = await eventually(async () => (await (await fetch(sync.adminUrl + '/status')).json()) as Status, s => s.policy.lastError !== null)
  t.equal(status.policy.generation, 1, 'the last good policy stays in force')
  t.match(status.policy.lastError!.problems[0], /policy\.yaml:\d+:12 error \(yaml\): alias \*old refers to no anchor/)
  t.ok(logs.some(l => l.includes('policy reload rejected')))
  t.match(await (await fetch(sync.adminUrl + '/status')).json(), { leader: true }, 'the sync is alive and still leads')
})

t.test('a create without an id, through the proxy, is found by scanning its collection', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  f.old.store.addTenant('acme')
  const embedded = await startEmbedded(t, f)
  const res = await fetch(`${embedded.proxy.proxyUrl}/api/v1/tenants/acme/alert-rules`, { method: 'POST', body: JSON.stringify({ name: 'created' }) })
  const { id } = await res.json() as { id: string }
  await eventually(() => f.new.store.get('alert-rule', 'acme', id), v => v !== undefined, 3000)
  t.match(f.new.store.get('alert-rule', 'acme', id), { name: 'created' })
  await embedded.stop()
})

t.test('progress draws bars on a terminal', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const stream = new PassThrough()
  let drawn = ''
  stream.on('data', d => { drawn += String(d) })
  const progress = new SyncProgress({ log: captureLog().log, metrics, bars: stream })
  t.equal(progress.eta('alert-rule'), undefined, 'no ETA for a type never begun')
  progress.begin('alert-rule', 2)
  t.equal(progress.eta('alert-rule'), undefined, 'no ETA before the first tenant is done')
  progress.scopeDone('alert-rule', 10)
  t.type(progress.eta('alert-rule'), 'number')
  progress.begin('alert-rule', 2)
  progress.scopeDone('alert-rule', 5)
  progress.stop()
  t.match(drawn, /alert-rule\s+\[.*\] 1\/2 tenants · 5 objects/)
  t.match(progress.snapshot(), { 'alert-rule': { tenantsDone: 1, tenants: 2, objects: 5 } })
})

t.test('an acknowledgement covers only writes made before it', async t => {
  let now = 1000
  const ryw = new ReadYourWrites(() => now)
  ryw.record('acme', 'team', 5000, 1000)
  ryw.acknowledge('acme', 'team', 999)
  t.equal(ryw.active('acme', 'team'), true, 'a later write keeps its window')
  ryw.acknowledge('acme', 'team', 1000)
  t.equal(ryw.active('acme', 'team'), false)
  ryw.record(undefined, 'team', 5000)
  ryw.acknowledge('', 'team', now)
  t.equal(ryw.active(undefined, 'team'), false, 'tenant-less resources are acknowledged too')
  now += 1
})

t.test('the REST adapter walks paged tenant lists and explains a list it cannot read', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  for (let i = 0; i < 130; i++) f.old.store.addTenant(`tenant-${String(i).padStart(3, '0')}`)
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const policy = compiled(f.policyFile).policy
  const old = new RestAdapter('old', policy, new Throttle(1000), metrics)
  t.teardown(() => old.close())
  t.equal((await old.listTenants()).length, 130, 'all pages of tenants (the API pages by 100)')
  const noTenants = new RestAdapter('old', { ...policy, sync: { ...policy.sync, tenants: undefined } }, new Throttle(1000), metrics)
  t.teardown(() => noTenants.close())
  t.same(await noTenants.listTenants(), [], 'without sync.tenants only tenant-less resources are synced')
  const wrongTenants = new RestAdapter('old', { ...policy, sync: { ...policy.sync, tenants: { ...policy.sync.tenants!, items: '/tenants' } } }, new Throttle(1000), metrics)
  t.teardown(() => wrongTenants.close())
  await t.rejects(wrongTenants.listTenants(), { message: 'old: the tenant list at /api/v1/tenants has no array at /tenants' })
  const resource = { ...policy.resources[0]!, list: { ...policy.resources[0]!.list, items: '/rules' } }
  await t.rejects(old.listPage(resource, 'tenant-001', undefined, 10), { message: /old: \/api\/v1\/tenants\/tenant-001\/alert-rules\?limit=10 has no item list at \/rules/ })
})

t.test('a write to a resource without a tenant is announced with an empty tenant', async t => {
  const dir = scratchDir(t)
  const { oldUp, newUp } = await startPair(t)
  const { log } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: join(dir, 'proxy'), changeStore: state })
  const res = await fetch(`${proxy.proxyUrl}/api/v1/teams/t1`, { method: 'PUT', body: '{}' })
  await res.arrayBuffer()
  const changes = await eventually(() => state.changes.read('0', 10), c => c.length > 0)
  t.match(changes, [{ resourceType: 'team', tenant: '', id: 't1' }])
  await proxy.stop()
  await state.close() // the announcement is written to disk after the answer: let it land before the test's directory goes
})

t.test('only the leader publishes its status; one that cannot keeps syncing, and says why at debug level', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 3 } } })
  const { logs, log } = captureLog('debug')
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const publishers = new Set<string>()
  state.signals.publishStatus = async (status: string) => {
    publishers.add((JSON.parse(status) as { owner: string }).owner)
    throw new Error('status store is read-only')
  }
  const leader = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log, admin: '127.0.0.1:0', state, statusPublishMs: 20 })
  t.teardown(() => leader.stop())
  const line = await eventually(() => logs.find(l => l.includes('cannot publish the sync status')), l => l !== undefined)
  t.match(line, /status store is read-only/)
  const standby = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'standby'), log, admin: '127.0.0.1:0', state, statusPublishMs: 20 })
  t.teardown(() => standby.stop())
  const standbyStatus = await (await fetch(`${standby.adminUrl}/status`)).json() as { leader: boolean }
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(standbyStatus.leader, false)
  t.equal(publishers.size, 1, 'the standby published nothing')
  await eventually(() => f.new.store.get('team', 'acme', 'team-0003'), v => v !== undefined)
  t.ok(f.new.store.get('team', 'acme', 'team-0003'), 'the sync carried on')
})
