// `dualread cutover --to SIDE --admin URL`, in the embedded arrangement (one process, the
// state in a file, the cutover state in memory): it asks, follows, and says how it ended.
import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { runCli } from '../helpers/cli.ts'
import { startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { TENANT } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('dualread cutover moves writes to new and back, from a proxy or a sync admin port', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: [TENANT], perType: 3 } } })
  f.writePolicy({ sync: 'cutover: { maxHoldMs: 5000 }' }) // room for a loaded machine: an abort here would be a flake, not a finding
  const e = await startEmbedded(t, f)
  const to = await runCli('cutover', '--to', 'new', '--admin', e.proxy.adminUrl)
  t.match(to, { code: 0, out: /writes go to new \(epoch 2\); the sync now keeps old following it/ })
  const write = await fetch(`${e.proxy.proxyUrl}/api/v1/tenants/${TENANT}/alert-rules/after-cutover`, { method: 'PUT', body: '{"threshold":1}' })
  t.equal(write.headers.get('x-dualread-served-by'), 'new', 'writes go to new while the file still says old')
  const status = await (await fetch(`${e.proxy.adminUrl}/status`)).json() as { authority: string, writes: { pending: string } }
  t.match(status, { authority: 'new', writes: { pending: /cutover pending: the policy file says old/ } })
  const back = await runCli('cutover', '--to', 'old', '--admin', e.sync.adminUrl)
  t.match(back, { code: 0, out: /writes go to old \(epoch 3\)/ })
  t.ok(f.old.store.get('alert-rule', TENANT, 'after-cutover'), 'the write made on new reached old before the way back')
  const refused = await fetch(`${e.proxy.adminUrl}/cutover`, { method: 'POST', body: '{"to":"sideways"}' })
  t.equal(refused.status, 400)
  t.match(await refused.json(), { detail: /expected a JSON body \{"to":"new"\}/ })
  const garbled = await fetch(`${e.proxy.adminUrl}/cutover`, { method: 'POST', body: 'to=new' })
  t.equal(garbled.status, 400, 'a body that is not JSON is refused the same way')
})

t.test('a refused cutover, and one nobody runs, end with exit 1 and say why', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace('leaseTtlMs: 1500', 'leaseTtlMs: 1500\n  direction: old-to-new'))
  const e = await startEmbedded(t, f)
  const refused = await runCli('cutover', '--to', 'new', '--admin', e.proxy.adminUrl)
  t.match(refused, { code: 1, out: /cutover to new aborted: refused: sync.direction is fixed to old-to-new.*writes stay on old/ })
  await e.sync.stop()
  const nobody = await runCli('cutover', '--to', 'new', '--admin', e.proxy.adminUrl, '--wait', '0.3')
  t.match(nobody, { code: 1, out: /no outcome after 0.3 s: the authority is old, phase steady; is `dualread sync` running/ })
  const unreachable = await runCli('cutover', '--to', 'new', '--admin', 'http://127.0.0.1:1')
  t.match(unreachable, { code: 1, out: /cannot reach the admin server/ })
})

t.test('an admin port without a shared state store has no cutover to run', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const { startTestSidecar } = await import('../helpers/sidecar.ts')
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: dir, redisUrl: null })
  const res = await runCli('cutover', '--to', 'new', '--admin', proxy.adminUrl)
  t.match(res, { code: 1, out: /cutover refused \(404\)/ })
})
