import t, { type Test } from 'tap'
import { openStateStore } from '../../src/sync/open-state-store.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { startProcess } from '../helpers/process.ts'
import { contents, startSyncFixture } from '../helpers/sync.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'



function startSync(t: Test, policyFile: string, stateDir: string, env: Record<string, string> = {}) {
  const p = startProcess(['sync', '--policy', policyFile, '--admin', '127.0.0.1:0', '--state-dir', stateDir], { ...env }, 'dualread sync started')
  t.teardown(() => { p.child.kill('SIGKILL') })
  return p
}

const leaderOf = async (admin: string) => {
  try {
    return (await (await fetch(`http://${admin}/status`)).json() as { leader: boolean }).leader
  } catch {
    return undefined
  }
}

t.test('two sync processes: only one writes; the standby takes over when the leader is killed', async t => {
  const dir = t.testdir()
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

  a.child.kill('SIGKILL')
  await a.exited
  t.equal(await eventually(() => leaderOf(adminB), l => l === true, 8000), true, 'the standby takes over after the lease expires')
  f.old.store.put('alert-rule', 'acme', 'after-takeover', { name: 'x', enabled: true, threshold: 1 })
  const status = await (await fetch(`http://${adminB}/status`)).json() as { fencingToken: number }
  t.ok(status.fencingToken >= 2, 'with a higher fencing token')
  b.child.kill('SIGTERM')
  t.equal((await b.exited)[0], 0, 'SIGTERM stops it cleanly')
  t.match(b.output().stdout, /checkpoints saved/)
})

t.test('with Redis gone for a while the sync pauses without crashing, then resumes', async t => {
  const dir = t.testdir()
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
  await state.appendChange({ resourceType: 'alert-rule', tenant: 'acme', id: 'during-outage', at: Date.now() })
  await eventually(() => f.new.store.get('alert-rule', 'acme', 'during-outage'), v => v !== undefined, 10_000)
  t.ok(f.new.store.get('alert-rule', 'acme', 'during-outage'), 'it resumed and applied the write')
  p.child.kill('SIGTERM')
  t.equal((await p.exited)[0], 0)
  t.match(p.output().stdout, /cannot renew the sync lease; pausing writes/)
  t.match(p.output().stdout, /sync state store unavailable; retrying/)
})
