// The proxy's side of a cutover, against the in-memory store with a clock of the test's own.
import t, { type Test } from 'tap'
import { MemoryCutoverStore } from '../../src/cutover/memory-store.ts'
import type { CutoverState } from '../../src/cutover/state.ts'
import { FileAuthority, WriteGate, type Admission, type Admitted } from '../../src/cutover/write-gate.ts'
import { CutoverConfigDefaults } from '../helpers/cutover.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'

/** A store that can be made unreachable. */
class FlakyStore extends MemoryCutoverStore {
  down = false
  /** As after a Redis restart without persistence: the state is gone. */
  lost = false
  override async checkIn(replica: string) {
    if (this.down) throw new Error('connection refused')
    return this.lost ? undefined : super.checkIn(replica)
  }

  override async initialize(authority: 'old' | 'new') {
    if (this.down) throw new Error('connection refused')
    return super.initialize(authority)
  }

  override async confirm(runId: string, phase: 'hold' | 'switch', replica: string) {
    if (this.down) throw new Error('connection refused')
    return super.confirm(runId, phase, replica)
  }
}

function setup(t: Test, o: { maxHoldMs?: number, staleViewMs?: number } = {}) {
  let now = 1_000_000
  const store = new FlakyStore({ clock: () => now })
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const gate = new WriteGate({
    store, replica: 'r1', log, metrics, clock: () => now, pollMs: 3_600_000,
    config: () => ({ ...CutoverConfigDefaults, maxHoldMs: o.maxHoldMs ?? 2000, staleViewMs: o.staleViewMs ?? 30_000 }),
    fileAuthority: () => 'old',
  })
  t.teardown(() => gate.close())
  const advance = (ms: number) => { now += ms }
  const hold = async (phase: 'hold' | 'switch' = 'hold'): Promise<CutoverState> => {
    const state = (await store.read())!
    const run = state.run ?? { id: 'run-1', from: state.authority, to: state.authority === 'old' ? 'new' as const : 'old' as const, startedAt: now, deadline: now + 2000, trigger: 'file' as const }
    const next: CutoverState = { ...state, phase, run }
    await store.transition(state, next)
    await gate.poll()
    return next
  }
  const finish = async (to: 'old' | 'new') => {
    const state = (await store.read())!
    await store.transition(state, { epoch: state.epoch + (to === state.authority ? 0 : 1), authority: to, phase: 'steady' })
    await gate.poll()
  }
  return { store, gate, logs, advance, hold, finish }
}

const side = (a: Admission) => 'side' in a ? a.side : `refused: ${a.refused.reason}`

t.test('without shared state, the policy file says where writes go', async t => {
  let file: 'old' | 'new' = 'old'
  const router = new FileAuthority(() => file)
  t.equal(side(router.admit()), 'old')
  file = 'new'
  t.equal(router.authority(), 'new')
  t.match(router.describe(), { shared: false, effective: 'new', desired: 'new' })
  ;(router.admit() as Admitted).done()
  await router.close()
})

t.test('a new migration starts from the file\'s authority, and writes go there at once', async t => {
  const { gate, store } = setup(t)
  await gate.start()
  t.match(await store.read(), { epoch: 1, authority: 'old', phase: 'steady' })
  const a = gate.admit()
  t.notOk(a instanceof Promise, 'no wait')
  t.equal(side(a as Admission), 'old')
  t.match(gate.describe(), { shared: true, effective: 'old', desired: 'old', pending: null, writesInFlight: 1 })
})

t.test('a held write waits, the hold is confirmed once nothing is in flight, and the write goes to the new authority', async t => {
  const { gate, store, hold, finish } = setup(t)
  await gate.start()
  const inFlight = gate.admit() as Admitted
  let announced!: () => void
  const announcement = new Promise<void>(r => { announced = r })
  await hold()
  const held = gate.admit()
  t.ok(held instanceof Promise, 'a new write waits')
  t.same([...await store.confirmed('run-1', 'hold')], [], 'not confirmed while a write is in flight')
  inFlight.done(announcement)
  inFlight.done(announcement)
  await gate.poll()
  t.same([...await store.confirmed('run-1', 'hold')], [], 'nor while its announcement is under way')
  announced()
  await announcement
  await new Promise(r => setImmediate(r))
  t.same([...await store.confirmed('run-1', 'hold')], ['r1'], 'confirmed once it is announced')
  await hold('switch')
  t.same([...await store.confirmed('run-1', 'switch')], ['r1'], 'the switch is confirmed when asked')
  t.match(gate.describe(), { phase: 'switch', heldWrites: 1 })
  await finish('new')
  t.equal(side(await held), 'new')
  t.equal(gate.authority(), 'new')
})

t.test('an aborted cutover lets the held writes go to the authority in force', async t => {
  const { gate, hold, finish } = setup(t)
  await gate.start()
  await hold()
  const held = gate.admit()
  await finish('old')
  t.equal(side(await held), 'old')
})

t.test('a write held longer than maxHoldMs is refused with Retry-After, never sent', async t => {
  const { gate, hold } = setup(t, { maxHoldMs: 20 })
  await gate.start()
  await hold()
  const held = await gate.admit()
  t.match(held, { refused: { reason: /held this write for 20 ms/, retryAfterSec: 1 } })
})

t.test('past its deadline, a replica that never confirmed the switch lets writes go on to the authority in force', async t => {
  const { gate, hold, advance, store } = setup(t)
  await gate.start()
  await hold()
  store.down = true
  await gate.poll()
  advance(2001)
  t.equal(side(gate.admit() as Admission), 'old', 'without its confirmation the run cannot have switched')
})

t.test('a replica that confirmed the switch and cannot read the outcome refuses writes; once it reads the run still unswitched, they go on', async t => {
  const { gate, hold, advance, store, logs } = setup(t)
  await gate.start()
  await hold()
  await hold('switch')
  store.down = true
  await gate.poll()
  await gate.poll()
  advance(2001)
  t.match(gate.admit(), { refused: { reason: /outcome cannot be read/ } })
  t.equal(logs.filter(l => l.includes('cannot read the write authority')).length, 1, 'the outage is logged once')
  store.down = false
  await gate.poll()
  t.ok(logs.some(l => l.includes('answers again')))
  t.ok(logs.some(l => l.includes('did not finish in time')), 'past the deadline the run is let go')
  t.equal(side(gate.admit() as Admission), 'old')
})

t.test('a replica that cannot confirm the authority for staleViewMs refuses writes, and one that never could does too', async t => {
  const { gate, advance, store } = setup(t, { staleViewMs: 1000 })
  await gate.start()
  store.down = true
  await gate.poll()
  advance(500)
  t.equal(side(gate.admit() as Admission), 'old', 'a short outage: the last confirmed authority')
  advance(600)
  t.match(gate.admit(), { refused: { reason: /could not be confirmed with the state store for 1 s/ } })

  const never = setup(t)
  never.store.down = true
  await never.gate.start()
  t.match(never.gate.admit(), { refused: { reason: /not known yet/ } })
  t.match(never.gate.describe(), { effective: null, phase: 'unknown', lastConfirmedAgoMs: null })
})

t.test('a hold confirmation that fails is sent again on the next check-in', async t => {
  const { gate, store, hold } = setup(t)
  await gate.start()
  store.down = true
  const state = (await store.read())!
  store.down = false
  await store.transition(state, { ...state, phase: 'hold', run: { id: 'run-1', from: 'old', to: 'new', startedAt: 0, deadline: 1, trigger: 'file' } })
  const confirm = store.confirm.bind(store)
  let failures = 1
  store.confirm = async (...args) => { if (failures-- > 0) throw new Error('refused'); return confirm(...args) }
  await gate.poll()
  await new Promise(r => setImmediate(r))
  t.same([...await store.confirmed('run-1', 'hold')], [])
  await hold()
  t.same([...await store.confirmed('run-1', 'hold')], ['r1'])
})

t.test('a stopping proxy refuses what it holds and leaves the registry', async t => {
  const { gate, hold, store } = setup(t)
  await gate.start()
  await hold()
  const held = gate.admit()
  t.same(await store.replicas(60_000), ['r1'])
  await gate.close()
  t.match(await held, { refused: { reason: 'this proxy is stopping' } })
  t.same(await store.replicas(60_000), [])
})

t.test('a replica whose file says new while the fleet still writes to old says the cutover is pending', async t => {
  const { gate, store } = setup(t)
  await store.initialize('new')
  await gate.start()
  t.match(gate.describe(), { effective: 'new', desired: 'old', pending: /cutover pending: the policy file says old, writes still go to new/ })
})

t.test('a state lost mid-cutover is not guessed at: writes wait; a state lost when steady comes back as the authority last confirmed', async t => {
  const mid = setup(t)
  await mid.gate.start()
  await mid.hold()
  mid.store.lost = true
  await mid.gate.poll()
  t.ok(mid.gate.admit() instanceof Promise, 'still held: the run may have switched or not')

  const steady = setup(t)
  await steady.gate.start()
  await steady.finish('new')
  let put: string | undefined
  steady.store.lost = true
  steady.store.initialize = async authority => { put = authority; steady.store.lost = false; return { epoch: 1, authority, phase: 'steady' } }
  await steady.gate.poll()
  t.equal(put, 'new', 'put back as new, although the file says old')
})
