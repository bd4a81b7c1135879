// A standby sync process follows a switch its leader made: when it takes over, it syncs the
// way the authority in force says, never the way it was built.
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { cutoverReport, startCutoverFixture } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a standby follows the switch its leader made, and syncs new → old when it takes over', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover-standby')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const start = (name: string) => startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, name), log: captureLog().log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  const leader = await start('leader')
  await eventually(async () => ((await (await fetch(`${leader.adminUrl}/status`)).json()) as { leader: boolean }).leader, l => l)
  const standby = await start('standby')
  t.teardown(() => standby.stop())
  const direction = async () => ((await (await fetch(`${standby.adminUrl}/status`)).json()) as { leader: boolean, direction: { from: string } })
  t.match(await direction(), { leader: false, direction: { from: 'old' } })
  await fetch(`${leader.adminUrl}/cutover`, { method: 'POST', body: '{"to":"new"}' })
  t.match(await eventually(() => cutoverReport(leader.adminUrl), r => r.effective === 'new', 20_000), { effective: 'new' })
  t.match(await eventually(direction, s => s.direction.from === 'new'), { leader: false, direction: { from: 'new' } }, 'the standby turned round too')
  await leader.stop()
  t.match(await eventually(direction, s => s.leader, 15_000), { leader: true, direction: { from: 'new' } }, 'and leads that way once the leader is gone')
})
