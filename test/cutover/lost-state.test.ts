// A Redis restarted without persistence loses the cutover state (and any `dualread cutover`
// request). The fleet puts back the authority it last confirmed, never the policy file's, so
// writes never jump to a store that stopped being the authority: if the file wants the other
// side, that is a cutover like any other, with its hold and drain.
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { cutoverReport, startCutoverFixture, TENANT } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a lost cutover state comes back as the authority the fleet last confirmed, not the file\'s', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover-lost')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'sync'), log: captureLog().log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), redisUrl: REDIS_URL })
  await fetch(`${sync.adminUrl}/cutover`, { method: 'POST', body: '{"to":"new"}' })
  t.match(await eventually(() => cutoverReport(proxy.adminUrl), r => r.effective === 'new', 20_000), { effective: 'new', desired: 'new', epoch: 2 }, 'moved by command; the file still says old')
  const write = await fetch(`${proxy.proxyUrl}/api/v1/tenants/${TENANT}/alert-rules/during-command`, { method: 'PUT', body: '{"threshold":7}' })
  t.equal(write.headers.get('x-dualread-served-by'), 'new')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  // The sync alone notices (a proxy doing the same is in test/cutover/write-gate.test.ts).
  await proxy.stop()
  await redis.del(`${keyPrefix(migration)}cutover:state`, `${keyPrefix(migration)}cutover:request`)
  const back = await eventually(async () => JSON.parse(await redis.get(`${keyPrefix(migration)}cutover:state`) ?? 'null') as { authority: string } | null, s => s !== null)
  t.match(back, { authority: 'new' }, 'put back as new, the authority the sync runs from')
  // The command was lost with the state: the file (old) is what is wanted now, and it is reached the safe way.
  const r = await eventually(() => cutoverReport(sync.adminUrl), r => r.effective === 'old', 20_000)
  t.match(r, { effective: 'old', lastSwitch: { from: 'new', to: 'old', holdMs: Number } }, 'through a cutover from new, not a jump')
  t.ok(f.old.store.get('alert-rule', TENANT, 'during-command'), 'the write made on new while the command stood is on old')
})
