// The write cutover with its coordinator (the sync leader) SIGKILLed at different steps.
import { join } from 'node:path'
import t from 'tap'
import type { Side } from '../../src/policy/schema.ts'
import { startProcess } from '../helpers/process.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { cutoverReport, lastAcknowledged, lostWrites, sameMaps, setAuthority, startCutoverFixture, startWriters, thresholds } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a coordinator SIGKILLed at any step: each cutover completes or aborts, and no acknowledged write is lost', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover-kill')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const syncArgs = ['sync', '--policy', f.policyFile, '--admin', '127.0.0.1:0', '--state-dir', join(dir, 'sync')]
  let sync = startProcess(syncArgs, {}, 'dualread sync started')
  t.teardown(() => sync.kill())
  await sync.listening
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), redisUrl: REDIS_URL })
  const writers = startWriters(() => proxy.proxyUrl)
  let to: Side = 'old'
  // Killed right after the edit is seen, during the catch-up or the hold, and around the switch.
  for (const killAfterMs of [50, 250, 500, 800]) {
    to = to === 'old' ? 'new' : 'old'
    await new Promise(r => setTimeout(r, 200))
    setAuthority(f.policyFile, to)
    await new Promise(r => setTimeout(r, killAfterMs))
    sync.child.kill('SIGKILL')
    await sync.exited
    sync = startProcess(syncArgs, {}, 'dualread sync started')
    await sync.listening
    const r = await eventually(() => cutoverReport(proxy.adminUrl), r => r.effective === to && r.phase === 'steady', 25_000)
    t.equal(r.effective, to, `killed ${killAfterMs} ms after the edit: the restarted sync finished the cutover to ${to}`)
  }
  await writers.stop()
  t.same(writers.failures, [], 'every write was answered 200, or 503 (sent nowhere)')
  const authority = thresholds(to === 'old' ? f.old : f.new)
  t.same(lostWrites(writers.acknowledged, authority), [], `none of ${writers.acknowledged.length} acknowledged writes is lost (${writers.refused.length} refused while held)`)
  const other = await eventually(() => thresholds(to === 'old' ? f.new : f.old), m => sameMaps(m, authority), 10_000)
  t.ok(sameMaps(other, authority), 'and the other store follows the authority')
})
