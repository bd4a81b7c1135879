import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { startProcess } from '../helpers/process.ts'
import { contents, startSyncFixture } from '../helpers/sync.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'



function startSync(t: Test, policyFile: string, stateDir: string, env: Record<string, string> = {}) {
  const p = startProcess(['sync', '--policy', policyFile, '--admin', '127.0.0.1:0', '--state-dir', stateDir], { ...env }, 'dualread sync started')
  t.teardown(() => p.kill())
  return p
}

const leaderOf = async (admin: string) => {
  try {
    return (await (await fetch(`http://${admin}/status`)).json() as { leader: boolean }).leader
  } catch {
    return undefined
  }
}

/** dualread_sync_leader as scraped: what the "sync leader absent" alert reads. */
const leaderGauge = async (admin: string) => /^dualread_sync_leader (\d+)$/m.exec(await (await fetch(`http://${admin}/metrics`)).text())?.[1]

t.test('two sync processes: only one writes; the standby takes over when the leader is killed', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme', 'globex'], perType: 10 } } })
  f.writePolicy({ state: REDIS_URL, migration, sync: '' })
  const a = startSync(t, f.policyFile, dir)
  const { admin: adminA } = await a.listening
  await eventually(() => leaderOf(adminA), l => l === true)
  const b = startSync(t, f.policyFile, dir)
  const { admin: adminB } = await b.listening
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 40)
  t.equal(await leaderOf(adminB), false, 'the second process stands by')
  t.match(b.output().stdout, /another sync process holds the lease; standing by/)
  t.same([await leaderGauge(adminA), await leaderGauge(adminB)], ['1', '0'], 'dualread_sync_leader: 1 on the leader, 0 on the standby')

  a.child.kill('SIGKILL')
  await a.exited
  t.equal(await eventually(() => leaderOf(adminB), l => l === true, 8000), true, 'the standby takes over after the lease expires')
  t.equal(await leaderGauge(adminB), '1', 'and says so in dualread_sync_leader')
  f.old.store.put('alert-rule', 'acme', 'after-takeover', { name: 'x', enabled: true, threshold: 1 })
  const status = await (await fetch(`http://${adminB}/status`)).json() as { fencingToken: number }
  t.ok(status.fencingToken >= 2, 'with a higher fencing token')
  b.child.kill('SIGTERM')
  t.equal((await b.exited)[0], 0, 'SIGTERM stops it cleanly')
  t.match(b.output().stdout, /checkpoints saved/)
})

t.test('with Redis gone for a while the sync pauses without crashing, then resumes', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 5 } } })
  f.writePolicy({ state: `redis://127.0.0.1:${relay.port}${target.pathname}`, migration, sync: '' })
  const p = startSync(t, f.policyFile, dir)
  const { admin } = await p.listening
  await eventually(() => Object.keys(contents(f.new)).length, n => n === 10)
  await relay.cut()
  f.old.store.put('alert-rule', 'acme', 'during-outage', { name: 'x', enabled: true, threshold: 2 })
  await new Promise(r => setTimeout(r, 2500))
  t.equal(p.child.exitCode, null, 'still running')
  t.equal(await leaderOf(admin), false, 'not writing without the lease')
  await relay.start()
  // The periodic scan would take an hour; a change event announces the write, as the proxy would.
  const state = await openStateStore(REDIS_URL, migration, captureLog().log)
  t.teardown(() => state.close())
  await state.changes.append({ resourceType: 'alert-rule', tenant: 'acme', id: 'during-outage', at: Date.now() })
  await eventually(() => f.new.store.get('alert-rule', 'acme', 'during-outage'), v => v !== undefined, 10_000)
  t.ok(f.new.store.get('alert-rule', 'acme', 'during-outage'), 'it resumed and applied the write')
  p.child.kill('SIGTERM')
  t.equal((await p.exited)[0], 0)
  t.match(p.output().stdout, /cannot renew the sync lease; pausing writes/)
  t.match(p.output().stdout, /sync state store unavailable; retrying/)
})

/** Resolves to the exit code, or to 'still running' when the process is still up after `ms`. */
async function exitCodeWithin(p: ReturnType<typeof startProcess>, ms = 15_000): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>(r => { timer = setTimeout(() => r('still running'), ms) })
  const code = await Promise.race([p.exited.then(([c]) => c), late])
  clearTimeout(timer)
  return code
}

async function leaseHolder(migration: string): Promise<string | null> {
  const redis = new Redis(REDIS_URL)
  try {
    return await redis.get(`${keyPrefix(migration)}sync:lease`)
  } finally {
    redis.disconnect()
  }
}

t.test('a sync whose admin is refused (0.0.0.0 without a token) says it failed, exits 1 and never takes the lease', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  f.writePolicy({ state: REDIS_URL, migration, sync: '' })
  const p = startProcess(['sync', '--policy', f.policyFile, '--admin', '0.0.0.0:0', '--state-dir', dir], { DUALREAD_ADMIN_TOKEN: '' })
  t.teardown(() => p.kill())
  t.equal(await exitCodeWithin(p), 1, 'it exits with 1')
  t.match(p.output().stderr, /dualread sync failed: admin is bound to 0\.0\.0\.0, which is not loopback/)
  t.equal(await leaseHolder(migration), null, 'the Redis lease is not held')
  t.same(contents(f.new), {}, 'and it wrote nothing')
})

t.test('a sync whose admin port is taken exits 1 and does not hold the lease', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 2 } } })
  f.writePolicy({ state: REDIS_URL, migration, sync: '' })
  const taken = new URL(f.old.url).port
  const p = startProcess(['sync', '--policy', f.policyFile, '--admin', `127.0.0.1:${taken}`, '--state-dir', dir])
  t.teardown(() => p.kill())
  t.equal(await exitCodeWithin(p), 1)
  t.match(p.output().stderr, /dualread sync failed: listen EADDRINUSE/)
  t.equal(await leaseHolder(migration), null, 'the Redis lease is not held')
})
