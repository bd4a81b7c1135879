// Edges of the write cutover around real processes: a client that gives up while its write is
// held, and a sync that starts while its state store is away.
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { refusedPort } from '../helpers/upstream.ts'
import { startSyncFixture } from '../helpers/sync.ts'
import { TENANT } from '../helpers/cutover.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a client that gives up while its write is held: the write is never sent, and the hold is confirmed', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const { log } = captureLog()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const steady = (await state.cutover.read())!
  const hold = { ...steady, phase: 'hold' as const, run: { id: 'r1', from: 'old' as const, to: 'new' as const, startedAt: 0, deadline: Number.MAX_SAFE_INTEGER, trigger: 'command' as const } }
  await state.cutover.transition(steady, hold)
  await eventually(async () => [...await state.cutover.confirmed('r1', 'hold')].length, n => n === 1)
  const gaveUp = new AbortController()
  const write = fetch(`${proxy.proxyUrl}/api/v1/tenants/${TENANT}/alert-rules/abandoned`, { method: 'PUT', body: '{}', signal: gaveUp.signal }).catch(err => err as Error)
  await eventually(async () => ((await (await fetch(`${proxy.adminUrl}/status`)).json()) as { writes: { heldWrites: number } }).writes.heldWrites, n => n === 1)
  gaveUp.abort()
  t.match(await write, { name: 'AbortError' })
  await new Promise(r => setTimeout(r, 200)) // for the proxy to see the connection go (not a timing assertion)
  await state.cutover.transition(hold, { epoch: 1, authority: 'old', phase: 'steady' })
  const after = await fetch(`${proxy.proxyUrl}/api/v1/tenants/${TENANT}/alert-rules/kept`, { method: 'PUT', body: '{}' })
  t.equal(after.status, 200, 'writes flow again')
  t.equal(f.old.store.get('alert-rule', TENANT, 'abandoned'), undefined, 'the abandoned write went nowhere')
  t.ok(f.old.store.get('alert-rule', TENANT, 'kept'))
})

t.test('a sync started while its state store is away starts, and leads once the store answers', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  f.writePolicy({ state: `redis://127.0.0.1:${await refusedPort()}` })
  const { log, logs } = captureLog()
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log, admin: '127.0.0.1:0' })
  t.teardown(() => sync.stop())
  const status = await (await fetch(`${sync.adminUrl}/status`)).json() as { leader: boolean, direction: { from: string }, cutover: { state: string } }
  t.match(status, { leader: false, direction: { from: 'old' }, cutover: { state: /unavailable/ } }, 'built from the policy\'s authority; it will not lead before it can read the one in force')
  t.ok(await eventually(() => logs.some(l => l.includes('sync state store unavailable')), ok => ok))
})
