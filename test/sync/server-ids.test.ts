// Stores that assign their own ids, against real reference APIs: the new store names objects
// itself (the serverIds flavour), the sync creates there with POST to the collection, pairs
// objects by natural key, keeps the id map, and a shadow read of one object asks the other store
// for its own id of it.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startReferenceApi, type ReferenceApi } from '../../src/reference/index.ts'
import { startSyncProcess, syncOnce } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import { byName, writeServerIdsPolicy } from '../helpers/server-ids.ts'

const TEAMS = '/api/v1/tenants/acme/teams'

function writePolicy(dir: string, old: ReferenceApi, neu: ReferenceApi, teamIdFrom = ''): string {
  return writeServerIdsPolicy(dir, old, neu, `  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    naturalKey: [/name]
    write:
      create: { method: POST, path: collection${teamIdFrom} }
      update: { method: PUT, path: item }
    compare: { ignore: [/updatedAt, /version] }
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    naturalKey: [/name, /owner]
    write:
      create: { method: POST, path: collection, idFrom: /id }
      update: { method: POST, path: collection }
    compare: { ignore: [/updatedAt, /version] }
  - type: contact-point
    collection: /api/v1/tenants/:tenant/contact-points
    item: /api/v1/tenants/:tenant/contact-points/:id
    write: { delete: false }
`, { batchSize: 2 })
}

async function setup(t: Test, teamIdFrom = '') {
  const dir = scratchDir(t)
  const old = await startReferenceApi()
  // With ETags too: objects paired by natural key are written unconditionally (a scan decides them).
  const neu = await startReferenceApi({ flavour: { serverIds: true, etags: true } })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  neu.store.addTenant('acme')
  const policyFile = writePolicy(dir, old, neu, teamIdFrom)
  const { log, logs } = captureLog()
  const once = () => syncOnce({ policyFile, stateDir: dir, log })
  return { dir, old, neu, policyFile, once, logs }
}
type Test = Parameters<typeof scratchDir>[0]

async function idMap(dir: string) {
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  return { state, [Symbol.asyncDispose]: () => state.close() }
}

t.test('a backfill creates with POST to the collection, pairs by natural key and keeps the id map; a second pass changes nothing', async t => {
  const { dir, old, neu, once } = await setup(t)
  for (const [id, name] of [['t1', 'payments'], ['t2', 'search'], ['t3', 'platform']]) old.store.put('team', 'acme', id!, { name, members: ['alice'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', owner: 'payments', threshold: 0.9 })
  const first = await once()
  t.match(first, { upserted: 4, errors: 0, converged: true })
  const teams = byName(neu, 'team')
  t.same([...teams.keys()].sort(), ['payments', 'platform', 'search'])
  t.notOk([...teams.values()].some(team => ['t1', 't2', 't3'].includes(team['id'] as string)), 'the new store named every object itself')
  {
    await using m = await idMap(dir)
    t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't1'), teams.get('payments')!['id'], 'old t1 is new\'s payments')
    t.equal(await m.state.ids.otherId('old', 'team', 'acme', teams.get('search')!['id'] as string), 't2', 'and the other way round')
  }
  const second = await once()
  t.match(second, { upserted: 0, deleted: 0, unchanged: 4, converged: true })
  t.equal(byName(neu, 'team').size, 3, 'no duplicates')
})

t.test('updates go to the target\'s own id (PUT item, or POST to the collection with its id in the body); deletes on either side by natural key', async t => {
  const { dir, old, neu, once } = await setup(t)
  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice'] })
  old.store.put('team', 'acme', 't2', { name: 'search', members: ['bob'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', owner: 'payments', threshold: 0.9 })
  await once()
  const [paymentsId, ruleId] = [byName(neu, 'team').get('payments')!['id'], byName(neu, 'alert-rule').get('cpu')!['id']]

  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice', 'carol'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', owner: 'payments', threshold: 0.5 })
  old.store.delete('team', 'acme', 't2')
  const extra = neu.store.put('team', 'acme', 'only-on-new', { name: 'identity', members: [] })
  const r = await once()
  t.match(r, { upserted: 2, deleted: 2, converged: true })
  const teams = byName(neu, 'team')
  t.same([...teams.keys()], ['payments'], 'search (deleted on old) and identity (only on new) are gone from new')
  t.match(teams.get('payments'), { id: paymentsId, members: ['alice', 'carol'] }, 'updated in place, under new\'s id')
  t.match(byName(neu, 'alert-rule').get('cpu'), { id: ruleId, threshold: 0.5 }, 'updated by POST with new\'s id in the body')
  await using m = await idMap(dir)
  t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't2'), undefined, 'the deleted pair is forgotten')
  t.equal(await m.state.ids.otherId('old', 'team', 'acme', extra.id), undefined)
})

t.test('a create whose answer was lost (killed before the id map was written) is paired on the next pass, not created twice', async t => {
  const dir = scratchDir(t)
  const old = await startReferenceApi()
  let lose = true
  // The POST lands, but its answer never arrives: the sync sees an error, as if killed right after.
  const neu = await startReferenceApi({
    flavour: { serverIds: true },
    onRequest: req => {
      if (req.method !== 'POST' || !lose) return undefined
      lose = false
      neu.store.put('team', 'acme', 'made-by-the-lost-post', { name: 'payments', members: ['alice'] })
      return { status: 502, body: { error: 'connection lost' } }
    },
  })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  neu.store.addTenant('acme')
  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice'] })
  const policyFile = writePolicy(dir, old, neu)
  const { log } = captureLog('silent')
  t.match(await syncOnce({ policyFile, stateDir: dir, log }), { errors: 1 })
  t.match(await syncOnce({ policyFile, stateDir: dir, log }), { upserted: 0, unchanged: 1, converged: true })
  t.same([...byName(neu, 'team').values()].map(team => team['id']), ['made-by-the-lost-post'], 'one payments team on new')
  await using m = await idMap(dir)
  t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't1'), 'made-by-the-lost-post', 'the pairing is recorded')
})

t.test('a shadow read of one object asks the other store for it under its own id; an unpaired one is missing (critical)', async t => {
  const { dir, old, neu, policyFile, once } = await setup(t)
  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice'] })
  await once()
  old.store.put('team', 'acme', 't9', { name: 'not-synced-yet', members: [] })
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const results = async () => ((await (await fetch(`${proxy.adminUrl}/status`)).json()) as { parity: Array<{ resourceType: string, results: Record<string, number> }> }).parity.find(p => p.resourceType === 'team')?.results
  await (await proxy.get(`${TEAMS}/t1`)).arrayBuffer()
  t.match(await eventually(results, r => r !== undefined), { match: 1, critical: 0 }, 'different ids, the same object: a match')
  const newId = byName(neu, 'team').get('payments')!['id'] as string
  t.ok(neu.store.get('team', 'acme', newId), 'read on new under new\'s id')
  await (await proxy.get(`${TEAMS}/t9`)).arrayBuffer()
  t.match(await eventually(results, r => (r?.['critical'] ?? 0) > 0), { match: 1, critical: 1 })
  await once()
  await (await proxy.get(TEAMS)).arrayBuffer()
  t.match(await eventually(results, r => (r?.['match'] ?? 0) > 1), { match: 2, critical: 1 }, 'the list compared by natural key, ids left out: a match')
  await proxy.stop()
})

t.test('an answer without the id at idFrom leaves the pairing to the next pass', async t => {
  const { dir, old, neu, once } = await setup(t, ', idFrom: /nowhere')
  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice'] })
  t.match(await once(), { upserted: 1, converged: true })
  const newId = byName(neu, 'team').get('payments')!['id']
  {
    await using m = await idMap(dir)
    t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't1'), undefined, 'not known yet')
  }
  t.match(await once(), { upserted: 0, unchanged: 1 })
  await using m = await idMap(dir)
  t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't1'), newId, 'paired by natural key')
})

t.test('with write.delete: false the sync leaves what the source no longer has, and sync --once says it differs', async t => {
  const { old, neu, once } = await setup(t)
  old.store.addTenant('acme')
  neu.store.put('contact-point', 'acme', 'c1', { name: 'pager' })
  t.match(await once(), { deleted: 0, differences: 1, converged: false })
  t.ok(neu.store.get('contact-point', 'acme', 'c1'), 'still there')
})

t.test('a delete through the proxy reaches the other store by a scan of its scope (the change names old\'s id only)', async t => {
  const { dir, old, neu, policyFile, once } = await setup(t)
  old.store.put('team', 'acme', 't1', { name: 'payments', members: ['alice'] })
  old.store.put('team', 'acme', 't2', { name: 'search', members: ['bob'] })
  await once()
  const { log } = captureLog('warn')
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const sync = await startSyncProcess({ policyFile, stateDir: dir, log, admin: '127.0.0.1:0', state })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const res = await fetch(`${proxy.proxyUrl}${TEAMS}/t1`, { method: 'DELETE' })
  t.equal(res.status, 204)
  const names = await eventually(() => [...byName(neu, 'team').keys()], n => n.length === 1)
  t.same(names, ['search'])
  await proxy.stop()
  await sync.stop()
})

t.test('a natural key over stores that take client ids: a create is a PUT under the source\'s id, both ways round', async t => {
  const dir = scratchDir(t)
  const old = await startReferenceApi()
  const neu = await startReferenceApi()
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  old.store.put('team', 'acme', 't1', { name: 'payments' })
  neu.store.put('team', 'acme', 'n7', { name: 'search' })
  const policy = (direction: string) => `version: 1
upstreams:
  old: { url: ${old.url} }
  new: { url: ${neu.url} }
authority: old
resources:
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    naturalKey: [/name]
    compare: { ignore: [/updatedAt, /version] }
rules:
  - name: default
    primary: old
sync:
  state: file:${join(dir, 'state')}
  direction: ${direction}
  tenants: { list: /api/v1/tenants }
`
  const policyFile = join(dir, 'policy.yaml')
  const { log } = captureLog('warn')
  writeFileSync(policyFile, policy('old-to-new'))
  t.match(await syncOnce({ policyFile, stateDir: dir, log }), { upserted: 1, deleted: 1, converged: true })
  t.same(Object.keys(neu.store.snapshot()), ['team/acme/t1'], 'created under old\'s id')
  // The other way round (new → old), pairs are still recorded old ↔ new.
  neu.store.put('team', 'acme', 'n8', { name: 'identity' })
  writeFileSync(policyFile, policy('new-to-old'))
  t.match(await syncOnce({ policyFile, stateDir: dir, log }), { upserted: 1, converged: true })
  await using m = await idMap(dir)
  t.equal(await m.state.ids.otherId('old', 'team', 'acme', 'n8'), 'n8')
  t.equal(await m.state.ids.otherId('new', 'team', 'acme', 't1'), 't1')
})
