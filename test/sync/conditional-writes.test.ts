// Conditional writes: against a target that answers with ETags, the sync writes with If-Match
// (If-None-Match: * for a create), so a client write that lands between the sync's read and its
// write is a conflict the authority wins, never a silent overwrite.
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { policySchema, type Resource } from '../../src/policy/schema.ts'
import { startSyncProcess, syncOnce } from '../../src/sidecar/sync-process.ts'
import { PreconditionFailed, RestAdapter, type Precondition, type Tagged } from '../../src/sync/adapter.ts'
import { SyncLoop } from '../../src/sync/loop.ts'
import { openStateStore } from '../../src/state/open.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import type { ConflictEntry } from '../../src/state/conflict-log.ts'
import { Throttle } from '../../src/sync/throttle.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { MemoryAdapter } from '../helpers/memory-adapter.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { contents, startSyncFixture } from '../helpers/sync.ts'
import { startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const TEAM = '/api/v1/tenants/acme/teams/team-0001'
/** Marks the writes a test makes as a client of the target, so its own hook leaves them alone. */
const CLIENT = { 'x-test-client': 'yes' }

interface Arrival { method: string, url: string, ifMatch: string | undefined, ifNoneMatch: string | undefined }

/**
 * A hook for the target: records the sync's writes, and while `race()` says so, makes a client's
 * write of `path` land on the target (over real HTTP) just before the sync's own write of it.
 */
function targetHook(path: string, race: () => boolean) {
  const writes: Arrival[] = []
  let clientWrites = 0
  const onRequest = async (req: IncomingMessage) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.headers['x-test-client'] !== undefined) return
    writes.push({ method: req.method!, url: req.url!, ifMatch: req.headers['if-match'], ifNoneMatch: req.headers['if-none-match'] })
    if (req.url !== path || !race()) return
    const res = await fetch(`http://${req.headers.host}${path}`, { method: 'PUT', headers: CLIENT, body: JSON.stringify({ name: `written to new directly, #${++clientWrites}` }) })
    await res.arrayBuffer()
  }
  return { writes, onRequest, clientWrites: () => clientWrites }
}

async function conflictLog(dir: string): Promise<ConflictEntry[]> {
  const { log } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  try {
    return await state.conflicts.recent(10)
  } finally {
    await state.close()
  }
}

t.test('a client write that lands on the target between the read and the write is a conflict the authority wins, not a silent overwrite', async t => {
  const dir = scratchDir(t)
  let racing = false
  const hook = targetHook(TEAM, () => { const r = racing; racing = false; return r })
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { etags: true }, onRequest: hook.onRequest } })
  const { log, logs } = captureLog()
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { converged: true, conflicts: 0 })
  t.same(await conflictLog(dir), [])

  f.old.store.put('team', 'acme', 'team-0001', { name: 'changed at the authority' })
  racing = true
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.equal(hook.clientWrites(), 1, 'the client write landed on the target just before the sync wrote')
  t.match(r, { converged: true, conflicts: 1, errors: 0 })
  const conflicts = await conflictLog(dir)
  t.equal(conflicts.length, 1, 'the overwrite is in the conflict log')
  t.match(conflicts[0], { key: 'team/acme/team-0001', winner: 'old', decision: 'upsert' })
  t.not(conflicts[0]!.targetHash, conflicts[0]!.appliedHash, 'the target held what the client wrote, not what the sync had')
  t.ok(logs.some(l => l.includes('sync conflict') && l.includes('team/acme/team-0001')))
  t.match(f.new.store.get('team', 'acme', 'team-0001'), { name: 'changed at the authority' }, 'the authority wins')
  t.same(contents(f.new), contents(f.old))
})

t.test('a deletion at the authority raced by a client edit on the target is a conflict too, and still deletes', async t => {
  const dir = scratchDir(t)
  let racing = false
  const hook = targetHook(TEAM, () => { const r = racing; racing = false; return r })
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { etags: true }, onRequest: hook.onRequest } })
  const { log } = captureLog()
  await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  f.old.store.delete('team', 'acme', 'team-0001')
  racing = true
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.equal(hook.clientWrites(), 1)
  t.match(r, { converged: true, conflicts: 1, deleted: 1 })
  t.match(await conflictLog(dir), [{ key: 'team/acme/team-0001', decision: 'delete', winner: 'old' }])
  t.equal(f.new.store.get('team', 'acme', 'team-0001'), undefined)
})

t.test('writes carry preconditions: If-None-Match: * to create, If-Match with the ETag the target served to update or delete', async t => {
  const dir = scratchDir(t)
  const hook = targetHook(TEAM, () => false)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { etags: true }, onRequest: hook.onRequest } })
  f.new.store.put('team', 'acme', 'stray', { name: 'only in new' })
  const strayTag = (await fetch(`${f.new.url}/api/v1/tenants/acme/teams/stray`)).headers.get('etag')!
  const { log } = captureLog()
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { upserted: 4, deleted: 1, converged: true })
  const creates = hook.writes.filter(w => w.method === 'PUT')
  t.equal(creates.length, 4)
  t.ok(creates.every(w => w.ifNoneMatch === '*' && w.ifMatch === undefined), `every create asked for If-None-Match: * (${JSON.stringify(creates)})`)
  t.same(hook.writes.filter(w => w.method === 'DELETE'), [{ method: 'DELETE', url: '/api/v1/tenants/acme/teams/stray', ifMatch: strayTag, ifNoneMatch: undefined }])

  hook.writes.length = 0
  const servedTag = (await fetch(`${f.new.url}${TEAM}`)).headers.get('etag')!
  f.old.store.put('team', 'acme', 'team-0001', { name: 'changed at the authority' })
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { upserted: 1, converged: true })
  t.same(hook.writes, [{ method: 'PUT', url: TEAM, ifMatch: servedTag, ifNoneMatch: undefined }])
})

t.test('when the target keeps changing under it, the sync tries a few times, then counts an error for a later pass', async t => {
  const dir = scratchDir(t)
  let racing = false
  const hook = targetHook(TEAM, () => racing)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { etags: true }, onRequest: hook.onRequest } })
  const { log, logs } = captureLog()
  await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  f.old.store.put('team', 'acme', 'team-0001', { name: 'changed at the authority' })
  racing = true
  hook.writes.length = 0
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { errors: 1, converged: false })
  const attempts = hook.writes.filter(w => w.url === TEAM)
  t.equal(attempts.length, 3, 'three conditional writes, no more')
  t.ok(attempts.every(w => w.ifMatch !== undefined))
  t.ok(logs.some(l => l.includes('sync could not apply a key') && l.includes('team/acme/team-0001') && l.includes('412')), 'logged, with the reason')
  t.match(f.new.store.get('team', 'acme', 'team-0001'), { name: 'written to new directly, #3' }, 'nothing was overwritten blindly')
  t.same(await conflictLog(dir), [], 'no conflict is logged for a write that never landed')

  racing = false
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { converged: true, conflicts: 1, errors: 0 }, 'a later pass retries it')
  t.match(f.new.store.get('team', 'acme', 'team-0001'), { name: 'changed at the authority' })
})

t.test('a key the sync gave up on is counted, by resource type and reason, for the sync-errors alert', async t => {
  const dir = scratchDir(t)
  const hook = targetHook(TEAM, () => true)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { flavour: { etags: true }, onRequest: hook.onRequest } })
  // Every key but one lands; that one keeps changing under the sync's writes.
  f.new.store.put('team', 'acme', 'team-0001', { name: 'on new first' })
  const { log } = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log, admin: '127.0.0.1:0' })
  t.teardown(() => sync.stop())
  const errors = /^dualread_sync_errors_total\{resource_type="team",reason="conflicting_writer"\} (\d+)/m
  const text = await eventually(async () => (await fetch(`${sync.adminUrl}/metrics`)).text(), m => errors.test(m), 15_000)
  t.match(text, errors)
  t.notMatch(text, /dualread_sync_errors_total\{resource_type="alert-rule"/, 'the keys that landed are not counted')
})

t.test('without ETags the sync writes as before: no preconditions, and a racing client write is overwritten unseen', async t => {
  const dir = scratchDir(t)
  let racing = false
  const hook = targetHook(TEAM, () => { const r = racing; racing = false; return r })
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } }, new: { onRequest: hook.onRequest } })
  const { log } = captureLog()
  await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  f.old.store.put('team', 'acme', 'team-0001', { name: 'changed at the authority' })
  racing = true
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { converged: true, conflicts: 0 })
  t.equal(hook.clientWrites(), 1)
  t.ok(hook.writes.every(w => w.ifMatch === undefined && w.ifNoneMatch === undefined), 'no precondition was sent')
  t.same(await conflictLog(dir), [], 'the README says so: without ETags this race goes unseen')
  t.match(f.new.store.get('team', 'acme', 'team-0001'), { name: 'changed at the authority' })
})

t.test('the REST adapter keeps strong ETags only, learns that a store does them, sends preconditions and names a 412', async t => {
  const { newUp } = await startPair(t)
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const policy = policySchema.parse({
    version: 1, authority: 'old',
    upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: newUp.url } },
    resources: [{ type: 'team', collection: '/teams', item: '/teams/:id' }],
    rules: [{ name: 'default', primary: 'old' }],
  })
  const resource = policy.resources[0]!
  const adapter = new RestAdapter('new', policy, new Throttle(1000), metrics)
  t.teardown(() => adapter.close())

  newUp.behaviour = { body: { id: 't1' }, headers: { etag: 'W/"weak"' } }
  t.same(await adapter.getTagged(resource, '', 't1'), { doc: { id: 't1' }, etag: undefined }, 'a weak ETag can never satisfy If-Match: it is not used')
  t.equal(adapter.conditionalWrites, false, 'nor does it make the store one that does conditional writes')
  newUp.behaviour = { body: { id: 't1' }, headers: { etag: '"v1"' } }
  t.same(await adapter.getTagged(resource, '', 't1'), { doc: { id: 't1' }, etag: '"v1"' })
  t.equal(adapter.conditionalWrites, true, 'learned from the first strong ETag')
  t.same(await adapter.get(resource, '', 't1'), { id: 't1' })

  newUp.behaviour = { status: 204, body: '' }
  await adapter.put(resource, '', 't1', { id: 't1' }, { ifMatch: '"v1"' })
  await adapter.put(resource, '', 't2', { id: 't2' }, { ifNoneMatch: '*' })
  await adapter.put(resource, '', 't3', { id: 't3' })
  newUp.behaviour = { status: 404, body: { error: 'not_found' } }
  await adapter.delete(resource, '', 't1', { ifMatch: '"v1"' })
  t.same(newUp.writes().map(w => [w.method, w.url, w.headers['if-match'], w.headers['if-none-match']]), [
    ['PUT', '/teams/t1', '"v1"', undefined],
    ['PUT', '/teams/t2', undefined, '*'],
    ['PUT', '/teams/t3', undefined, undefined],
    ['DELETE', '/teams/t1', '"v1"', undefined],
  ], 'what the store received; a 404 to a delete is still success')

  newUp.behaviour = { status: 412, body: { error: 'precondition_failed' } }
  await t.rejects(adapter.put(resource, '', 't1', { id: 't1' }, { ifMatch: '"v0"' }), { name: 'PreconditionFailed', status: 412, message: /^new answered 412 to PUT \/teams\/t1: .*precondition_failed/ })
  t.ok(await adapter.put(resource, '', 't1', {}).catch((err: unknown) => err) instanceof PreconditionFailed)
})

t.test('an object a conditional store sends without an ETag is written unconditionally; one it sends with one, with If-Match', async t => {
  const { log } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const state = await openStateStore(`file:${join(scratchDir(t), 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const received: Array<[string, Precondition | undefined]> = []
  /** A store that does ETags, but not for objects whose id starts with "untagged". */
  class TaggingAdapter extends MemoryAdapter {
    readonly conditionalWrites = true
    async getTagged(resource: Resource, tenant: string, id: string): Promise<Tagged> {
      const doc = await this.get(resource, tenant, id)
      return { doc, etag: doc === undefined || id.startsWith('untagged') ? undefined : `"${JSON.stringify(doc).length}"` }
    }
    override async put(resource: Resource, tenant: string, id: string, doc: unknown, precondition?: Precondition): Promise<void> {
      received.push([id, precondition])
      await super.put(resource, tenant, id, doc)
    }
  }
  const adapters = { old: new MemoryAdapter('old'), new: new TaggingAdapter('new') }
  const policy = policySchema.parse({
    version: 1, authority: 'old',
    upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
    resources: [{ type: 'setting', collection: '/settings', item: '/settings/:id' }],
    rules: [{ name: 'default', primary: 'old' }],
    sync: { leaseTtlMs: 60_000 },
  })
  const loop = new SyncLoop({ compiled: compilePolicy(policy, 'h'), state, log, metrics, progress: new SyncProgress({ log, metrics }), adapters })
  t.teardown(() => loop.stop())
  for (const id of ['tagged', 'untagged']) {
    adapters.old.objects.set(`setting//${id}`, { v: 2 })
    adapters.new.objects.set(`setting//${id}`, { v: 1 })
  }
  adapters.old.objects.set('setting//created', { v: 1 })
  t.match(await loop.runOnce(1000), { upserted: 3, differences: 0 })
  t.same(received.sort(), [['created', { ifNoneMatch: '*' }], ['tagged', { ifMatch: '"7"' }], ['untagged', undefined]])
})
