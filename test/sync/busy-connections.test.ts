// The sync's connections to a store are bounded too: a call that finds them all busy past
// queueTimeoutMs is an error the loop counts and retries, never a hang or a crash.
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { openStateStore } from '../../src/state/open.ts'
import { RestAdapter } from '../../src/sync/adapter.ts'
import { SyncLoop } from '../../src/sync/loop.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import { Throttle } from '../../src/sync/throttle.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { writePolicy } from '../helpers/policy.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { contents, startSyncFixture } from '../helpers/sync.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

function compiled(file: string) {
  const r = parsePolicy(readFileSync(file, 'utf8'), file)
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return compilePolicy(r.policy, r.hash)
}

t.test('a sync call that finds every sync connection busy past queueTimeoutMs fails with the reason; the next one gets the freed connection', async t => {
  const held: ServerResponse[] = []
  const store = createServer((req, res) => { req.resume(); held.push(res) })
  await new Promise<void>(resolve => store.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { store.closeAllConnections(); store.close() })
  const url = `http://127.0.0.1:${(store.address() as AddressInfo).port}`
  const dir = scratchDir(t)
  const policy = compiled(writePolicy(dir, { oldUrl: url, newUrl: 'http://127.0.0.1:9', upstreamKeys: { old: 'connections: { sync: 1 }, queueTimeoutMs: 50' } })).policy
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const adapter = new RestAdapter('old', policy, new Throttle(1000), metrics)
  t.teardown(() => adapter.close())
  const resource = policy.resources[0]!

  const first = adapter.get(resource, 'acme', 'a')
  await new Promise<void>(resolve => store.once('request', () => resolve()))
  await t.rejects(adapter.get(resource, 'acme', 'b'), { code: 'EQUEUETIMEOUT', message: 'the old upstream had all 1 sync connections busy for 50 ms (queueTimeoutMs)' })
  t.equal(held.length, 1, 'the refused call was never sent')

  held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"a"}')
  t.same(await first, { id: 'a' })
  const third = adapter.get(resource, 'acme', 'c')
  await new Promise<void>(resolve => store.once('request', () => resolve()))
  held.shift()!.writeHead(404).end()
  t.equal(await third, undefined, 'the connection came back to the budget')
})

t.test('a pass whose calls find the sync connections busy counts the keys it could not apply and carries on; a later pass applies them', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 8 } } })
  const { log, logs } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const loopFor = () => new SyncLoop({ compiled: compiled(f.policyFile), state, log, metrics, progress: new SyncProgress({ log, metrics }) })
  const policy = readFileSync(f.policyFile, 'utf8')

  // One sync connection to the target and no wait for it, while four keys are applied at once.
  writeFileSync(f.policyFile, policy.replace(`new: { url: ${f.new.url} }`, `new: { url: ${f.new.url}, connections: { sync: 1 }, queueTimeoutMs: 0 }`))
  const starved = loopFor()
  const r = await starved.runOnce(1000)
  await starved.stop()
  t.ok(r.errors > 0, 'some keys could not be applied')
  t.ok(r.differences > 0, 'and the pass does not claim convergence')
  t.ok(logs.some(l => l.includes('sync could not apply a key') && l.includes('all 1 sync connections busy')), 'the log says why')

  writeFileSync(f.policyFile, policy)
  const sized = loopFor()
  t.match(await sized.runOnce(1000), { errors: 0, differences: 0 })
  await sized.stop()
  t.same(contents(f.new), contents(f.old))
})
