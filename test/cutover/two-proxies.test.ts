// The write cutover with two proxies that read the edited policy file at different moments.
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import type { Side } from '../../src/policy/schema.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { cutoverReport, lastAcknowledged, lostWrites, setAuthority, startCutoverFixture, startWriters, thresholds } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('two proxies that read the edited policy at different moments never send writes to different stores', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover-two')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const otherFile = join(dir, 'policy-b.yaml')
  copyFileSync(f.policyFile, otherFile)
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'sync'), log: captureLog().log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  const a = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'a'), redisUrl: REDIS_URL })
  const b = await startTestSidecar(t, { policyFile: otherFile, stateDir: join(dir, 'b'), redisUrl: REDIS_URL })
  const viaA = startWriters(() => a.proxyUrl, { count: 4, prefix: 'a' })
  const viaB = startWriters(() => b.proxyUrl, { count: 4, prefix: 'b' })
  await new Promise(r => setTimeout(r, 300))
  setAuthority(f.policyFile, 'new') // a (and the sync) see the edit now; b's file still says old
  await eventually(() => cutoverReport(a.adminUrl), r => r.effective === 'new', 20_000)
  const bStatus = async () => (await (await fetch(`${b.adminUrl}/status`)).json() as { writes: { effective: Side, desired: Side, pending: string | null } })
  const pending = await eventually(bStatus, s => s.writes.effective === 'new')
  t.match(pending.writes, { effective: 'new', desired: 'old', pending: /cutover pending/ }, `b follows the fleet, and says its file differs: ${JSON.stringify(pending.writes)}`)
  await new Promise(r => setTimeout(r, 500))
  setAuthority(otherFile, 'new')
  await new Promise(r => setTimeout(r, 300))
  await Promise.all([viaA.stop(), viaB.stop()])
  const all = [...viaA.acknowledged, ...viaB.acknowledged]
  const firstOnNew = Math.min(...all.filter(w => w.servedBy === 'new').map(w => w.ended))
  const lateOnOld = all.filter(w => w.servedBy === 'old' && w.started > firstOnNew)
  t.same(lateOnOld, [], 'once any write was acknowledged by new, no write through either proxy was sent to old')
  t.ok(viaB.acknowledged.some(w => w.servedBy === 'new'), 'b sent writes to new while its own file still said old')
  const authority = thresholds(f.new)
  t.same(lostWrites(all, authority), [], `none of ${all.length} acknowledged writes is lost`)
})
