// Revisions a store assigns itself: the sync compares a source revision only with the source
// revision it last applied, never with the target's, and never counts a revision as content.
import t from 'tap'
import { decodeApplied, encodeApplied } from '../../src/sync/applied.ts'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { contents, startSyncFixture } from '../helpers/sync.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('what the sync applied is kept with the source revision; state saved before that still reads', async t => {
  t.same(decodeApplied(encodeApplied({ hash: 'ab12', sourceVersion: 7 })), { hash: 'ab12', sourceVersion: 7 })
  t.same(decodeApplied(encodeApplied({ hash: 'ab12' })), { hash: 'ab12' })
  t.same(decodeApplied('ab12'), { hash: 'ab12' }, 'a bare hash from an older state store')
  t.same(decodeApplied('ab12@x'), { hash: 'ab12', sourceVersion: undefined }, 'a mangled revision is no revision')
})

t.test('on stores that bump their own revision on every write, replays change nothing and a later change still lands', async t => {
  const dir = scratchDir(t)
  const flavour = { selfVersioning: true }
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 3 }, flavour }, new: { flavour } })
  const { log } = captureLog()
  t.match(await syncOnce({ policyFile: f.policyFile, stateDir: dir, log }), { upserted: 6, converged: true })
  // Replays (a restart after a crash, a scan) bump nothing: there is nothing to write.
  const again = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(again, { upserted: 0, conflicts: 0, unchanged: 6, converged: true })
  // The target's revisions run ahead of the source's (as after replays that did write).
  for (let i = 0; i < 5; i++) f.new.store.put('alert-rule', 'acme', 'alert-rule-0001', { ...f.new.store.get('alert-rule', 'acme', 'alert-rule-0001') , version: undefined })
  const ahead = f.new.store.get('alert-rule', 'acme', 'alert-rule-0001')!.version
  const changed = f.old.store.put('alert-rule', 'acme', 'alert-rule-0001', { ...f.old.store.get('alert-rule', 'acme', 'alert-rule-0001'), version: undefined, threshold: 99 })
  t.ok(changed.version < ahead, `the source's revision (${changed.version}) is below the target's (${ahead})`)
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { upserted: 1, converged: true })
  t.match(f.new.store.get('alert-rule', 'acme', 'alert-rule-0001'), { threshold: 99 }, 'the real change reached the target')
  t.same(contents(f.new, { withoutVersion: true }), contents(f.old, { withoutVersion: true }))
})

t.test('an object deleted and created again at the source, unseen by the sync, reaches the target although its revision started over', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  const { log } = captureLog()
  for (let i = 0; i < 4; i++) f.old.store.put('team', 'acme', 'team-0001', { name: `rev ${i}` })
  await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.equal(f.new.store.get('team', 'acme', 'team-0001')!.version, 5)
  f.old.store.delete('team', 'acme', 'team-0001')
  f.old.store.put('team', 'acme', 'team-0001', { name: 'created again' })
  t.equal(f.old.store.get('team', 'acme', 'team-0001')!.version, 1)
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { upserted: 1, converged: true })
  t.same(contents(f.new), contents(f.old))
})
