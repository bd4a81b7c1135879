// The coordinated write cutover, end to end: writers write their own keys one after another
// through the proxy while the policy's authority is edited back and forth. No acknowledged write
// may be lost, and the other store must follow the authority in force.
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import type { Side } from '../../src/policy/schema.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { cutoverReport, lastAcknowledged, lostWrites, sameMaps, setAuthority, startCutoverFixture, startWriters, thresholds } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('ten cutovers back and forth under sequential writers lose no acknowledged write, and the other store follows', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const syncLog = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'sync'), log: syncLog.log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), redisUrl: REDIS_URL })
  const writers = startWriters(() => proxy.proxyUrl)
  const holds: number[] = []
  let to: Side = 'old'
  for (let i = 0; i < 10; i++) {
    to = to === 'old' ? 'new' : 'old'
    await new Promise(r => setTimeout(r, 150)) // writes flow on the authority in force first
    setAuthority(f.policyFile, to)
    const r = await eventually(() => cutoverReport(proxy.adminUrl), r => r.effective === to && r.phase === 'steady', 20_000)
    if (!t.equal(r.effective, to, `cutover ${i + 1}: writes go to ${to} (${r.lastAbort ? `last abort: ${r.lastAbort.reason}` : 'no abort'})`)) {
      t.comment(syncLog.logs.filter(l => /cutover|authority|lease/.test(l)).slice(-15).join(''))
    }
    holds.push(r.lastSwitch!.holdMs)
  }
  await writers.stop()
  t.same(writers.failures, [], 'every write was answered 200, or 503 (held too long, sent nowhere)')
  t.ok(writers.acknowledged.length > 200, `${writers.acknowledged.length} writes acknowledged, ${writers.refused.length} refused during holds (hold ms: ${holds.join(', ')})`)
  const expected = lastAcknowledged(writers.acknowledged)
  const onAuthority = thresholds(f.old)
  const lost = [...expected].filter(([key, value]) => onAuthority.get(key) !== value)
  t.same(lost, [], 'every acknowledged write is the final value on the authority (old, after ten flips)')
  const converged = await eventually(() => thresholds(f.new), other => sameMaps(other, onAuthority), 10_000)
  t.ok(sameMaps(converged, onAuthority), 'and the other store equals it within seconds')
  const servedBy = new Set(writers.acknowledged.map(w => w.servedBy))
  t.same([...servedBy].sort(), ['new', 'old'], 'writes went to both stores in turn')
})
