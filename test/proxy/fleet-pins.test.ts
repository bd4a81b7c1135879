// Read-your-writes across the fleet: a write through one proxy process pins reads of its slice
// through another (sharing only Redis) to the authority, until the sync applies it.
import t from 'tap'
import { REDIS_URL } from '../helpers/redis.ts'
import { startTwoReplicas } from '../helpers/replicas.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { ConditionLog } from '../../src/telemetry/condition-log.ts'
import { followFleetWrites } from '../../src/proxy/fleet-pins.ts'
import { ReadYourWrites } from '../../src/proxy/read-your-writes.ts'

const ITEM = '/api/v1/tenants/acme/alert-rules/r1'

t.test('a write through replica A pins reads of its slice through replica B, until the sync applies it', async t => {
  const { migration, oldUp, newUp, b, a } = await startTwoReplicas(t, {
    rest: `rules:
  - name: default
    primary: new
readYourWrites: { windowMs: 60000 }
sync: { state: ${REDIS_URL} }`,
  })
  oldUp.behaviour = { body: { id: 'r1' } }
  newUp.behaviour = { body: { id: 'r1' } }
  const readB = async () => {
    const res = await b.get(ITEM)
    await res.arrayBuffer()
    return { servedBy: res.headers.get('x-dualread-served-by'), reason: res.headers.get('x-dualread-reason') }
  }
  t.match(await readB(), { servedBy: 'new' }, 'before the write, B reads new')
  const written = await fetch(`${a.proxyUrl}${ITEM}`, { method: 'PUT', body: '{"id":"r1","threshold":6}', headers: { 'content-type': 'application/json' } })
  t.equal(written.status, 200)
  await written.arrayBuffer()
  t.match(await eventually(readB, r => r.servedBy === 'old'), { servedBy: 'old', reason: 'read-your-writes' }, 'B now reads the authority for the slice A wrote')

  // The sync's acknowledgement ends the pin on every replica.
  const { openStateStore } = await import('../../src/state/open.ts')
  const state = await openStateStore(REDIS_URL, migration, captureLog().log)
  t.teardown(() => state.close())
  await state.signals.publishApplied('alert-rule', 'acme', Date.now())
  t.match(await eventually(readB, r => r.servedBy === 'new'), { servedBy: 'new' }, 'applied: B reads new again')
})

t.test('a write that cannot be shared is said once, and pins still hold on this replica', async t => {
  const { log, logs } = captureLog()
  const ryw = new ReadYourWrites()
  const conditions = new ConditionLog(log)
  t.teardown(() => conditions.close())
  let fail = true
  const heard: Array<() => void> = []
  const pins = await followFleetWrites({
    publishWritten: async () => { if (fail) throw new Error('redis is away') },
    onWritten: async listener => { heard.push(() => listener('alert-rule', '', 5)); return async () => undefined },
  }, ryw, () => 1000, conditions)
  pins.share({ resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 1 })
  pins.share({ resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 2 })
  await eventually(() => logs.join(''), l => l.includes('cannot share a write with the other replicas'))
  fail = false
  pins.share({ resourceType: 'alert-rule', tenant: 'acme', id: 'r1', at: 3 })
  await eventually(() => logs.join(''), l => l.includes('writes are shared with the other replicas again'))
  t.equal(logs.filter(l => l.includes('cannot share a write')).length, 1, 'one line for the outage, not one per write')
  heard[0]!()
  t.ok(ryw.active(undefined, 'alert-rule'), 'a tenant-less write from another replica pins the slice')
  await pins.stop()
})
