import { join } from 'node:path'
import t from 'tap'
import { syncOnce, startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { contents, startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { runCli } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a backfill copies every object of every tenant, and --once says converged', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme', 'globex', 'initech'], perType: 40 } } })
  const { log } = captureLog()
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { converged: true, differences: 0, errors: 0, conflicts: 0 })
  t.equal(r.upserted, 3 * 40 * 2, 'alert rules and teams of three tenants')
  t.same(contents(f.new), contents(f.old))
  const again = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(again, { upserted: 0, deleted: 0, unchanged: 240, converged: true }, 'a second pass changes nothing')
})

t.test('--once prints a summary and exits 1 when the target does not converge', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 5 } }, new: { flavour: { rejectWritesPercent: 100 } } })
  const failing = await runCli('sync', '--policy', f.policyFile, '--once', '--state-dir', dir)
  t.equal(failing.code, 1)
  t.match(failing.out, /sync pass: scanned \d+, upserted 10, .*NOT converged: 10 key\(s\) still differ/)
  f.new.setFlavour({ rejectWritesPercent: 0 })
  const passing = await runCli('sync', '--policy', f.policyFile, '--once', '--state-dir', dir)
  t.match(passing, { code: 0, out: /converged/ })
})

t.test('deletions at the source reach the target; objects written only to the target are removed, as conflicts', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 6 } } })
  const { log } = captureLog()
  await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  const [first] = Object.keys(contents(f.old))
  const [, tenant, id] = first!.split('/')
  f.old.store.delete('alert-rule', tenant!, id!)
  f.new.store.put('team', 'acme', 'stray', { name: 'written to new directly' })
  const edited = Object.keys(contents(f.old)).find(k => k.startsWith('team/'))!.split('/')
  f.new.store.put('team', edited[1]!, edited[2]!, { name: 'edited in new directly' })
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { deleted: 2, conflicts: 2, converged: true })
  t.same(contents(f.new), contents(f.old))
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  const conflicts = await state.conflicts.recent(10)
  await state.close()
  t.equal(conflicts.length, 2)
  t.match(conflicts, [{ winner: 'old', decision: /upsert|delete/, targetHash: /^[0-9a-f]{64}$/ }, { winner: 'old' }])
})

t.test('flipping the authority to new reverses the direction', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { new: { seed: { tenants: ['acme'], perType: 4 } } })
  f.writePolicy({ authority: 'new' })
  const { log } = captureLog()
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { upserted: 8, converged: true })
  t.same(contents(f.old), contents(f.new), 'old now follows new, ready for a rollback')
})

t.test('a 429 with Retry-After slows the loop down, and it still converges', async t => {
  const dir = scratchDir(t)
  // The new store asks for time on the sync's first three writes, however fast the machine is.
  let refused = 0
  const busy = (req: { method?: string }) => req.method === 'PUT' && refused < 3 ? (refused++, { status: 429, headers: { 'retry-after': '1' }, body: { error: 'rate_limited' } }) : undefined
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 30 } }, new: { onRequest: busy } })
  const { log } = captureLog()
  const started = Date.now()
  const r = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log })
  t.match(r, { converged: true, errors: 0 })
  t.equal(refused, 3, 'the store answered 429 three times')
  t.ok(Date.now() - started >= 1000, 'it waited as asked (Retry-After: 1) instead of failing')
})

t.test('a running sync applies writes through the proxy within moments and ends read-your-writes early', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 3 } } })
  const embedded = await startEmbedded(t, f)
  const { sync, proxy } = embedded
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 6)
  const put = await fetch(`${proxy.proxyUrl}/api/v1/tenants/acme/alert-rules/fresh`, { method: 'PUT', body: JSON.stringify({ name: 'fresh', enabled: true, threshold: 3 }) })
  t.equal(put.status, 200)
  const synced = await eventually(() => f.new.store.get('alert-rule', 'acme', 'fresh'), v => v !== undefined, 3000)
  t.match(synced, { name: 'fresh', threshold: 3 })
  const reason = await eventually(async () => {
    const res = await proxy.get('/api/v1/tenants/acme/alert-rules/fresh')
    await res.arrayBuffer()
    return res.headers.get('x-dualread-reason')
  }, r => r === 'rule', 3000)
  t.equal(reason, 'rule', 'the read-your-writes window (5 s) ended once the sync acknowledged the write')
  t.match(await (await fetch(sync.adminUrl + '/readyz')).json(), { ready: true, leader: true })
  const status = await (await fetch(sync.adminUrl + '/status')).json() as { leader: boolean, direction: unknown, totals: { upserted: number } }
  t.match(status, { leader: true, direction: { from: 'old', to: 'new' } })
  t.ok(status.totals.upserted >= 7)
  const metrics = await (await fetch(sync.adminUrl + '/metrics')).text()
  t.match(metrics, /dualread_sync_applied_total\{resource_type="alert-rule",op="upsert"\} \d+/)
  t.match(metrics, /dualread_sync_backfill_ratio\{resource_type="alert-rule"\} 1/)
  await embedded.stop()
})
