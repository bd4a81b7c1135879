// The write cutover with the state store gone in the middle of the hold.
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import type { Side } from '../../src/policy/schema.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { cutoverReport, lastAcknowledged, lostWrites, sameMaps, setAuthority, startCutoverFixture, startWriters, thresholds } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('the state store unreachable during the hold: the cutover aborts and writes go on to old', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'cutover-redis')
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut()) // the relay is listening again at the end
  const viaRelay = `redis://127.0.0.1:${relay.port}${target.pathname}`
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: viaRelay, maxHoldMs: 3000 })
  const syncLog = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'sync'), log: syncLog.log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), redisUrl: viaRelay })
  const writers = startWriters(() => proxy.proxyUrl)
  await new Promise(r => setTimeout(r, 300))
  // Watches the state directly and cuts the proxies' and the sync's Redis the moment the hold begins.
  const watcher = new Redis(REDIS_URL)
  t.teardown(() => watcher.disconnect())
  setAuthority(f.policyFile, 'new')
  const phase = async () => (JSON.parse(await watcher.get(`${keyPrefix(migration)}cutover:state`) ?? '{}') as { phase?: string }).phase
  t.equal(await eventually(phase, p => p === 'hold', 15_000), 'hold', 'the hold began')
  await relay.cut()
  const cutAt = performance.now()
  await new Promise(r => setTimeout(r, 4500)) // past cutover.maxHoldMs (3000)
  const duringOutage = writers.acknowledged.filter(w => w.started > cutAt + 3500)
  t.ok(duringOutage.length > 0, `writes are acknowledged while the state store is away (${duringOutage.length})`)
  t.same([...new Set(duringOutage.map(w => w.servedBy))], ['old'], 'on old: the held writes were let go to the authority in force')
  const state = JSON.parse(await watcher.get(`${keyPrefix(migration)}cutover:state`) ?? '{}') as { authority: Side, epoch: number }
  t.match(state, { authority: 'old', epoch: 1 }, 'the run never switched')
  await relay.start()
  // Back: the dead run is aborted (recorded), writes stop so the sync catches up, and the edit,
  // still in the file, is carried out on the next try.
  t.match(await eventually(() => cutoverReport(proxy.adminUrl), r => r.phase === 'steady' && r.lastAbort !== null, 10_000), { phase: 'steady', lastAbort: { reason: String } }, 'the run is recorded as not switched')
  await writers.stop()
  const r = await eventually(() => cutoverReport(proxy.adminUrl), r => r.effective === 'new', 30_000)
  t.equal(r.effective, 'new', `then carried out (last abort or refusal: ${r.lastAbort?.reason})`)
  t.same(writers.failures, [])
  const authority = thresholds(f.new)
  t.same(lostWrites(writers.acknowledged, authority), [], `none of ${writers.acknowledged.length} acknowledged writes is lost`)
  t.ok(sameMaps(await eventually(() => thresholds(f.old), m => sameMaps(m, authority), 10_000), authority), 'old follows new')
})
