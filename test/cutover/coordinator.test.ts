// The coordinator's decisions, one by one: prechecks that refuse, steps that abort, a run left
// by a dead coordinator, commands. The sync loop is scripted here (the end-to-end tests next to
// this one run the real one); the state is the in-memory store.
import t, { type Test } from 'tap'
import { CutoverCoordinator } from '../../src/cutover/coordinator.ts'
import { MemoryCutoverStore } from '../../src/cutover/memory-store.ts'
import type { CutoverState } from '../../src/cutover/state.ts'
import { policySchema, type Policy } from '../../src/policy/schema.ts'
import type { SyncLoop } from '../../src/sync/loop.ts'
import type { ChangeEvent } from '../../src/state/change-stream.ts'
import type { StateStore } from '../../src/state/state-store.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { scrape } from '../helpers/metrics.ts'
import { MemoryAuditLog } from '../../src/state/audit-log.ts'
import { AuditRecorder } from '../../src/state/audit-recorder.ts'
import { ConditionLog } from '../../src/telemetry/condition-log.ts'

interface Script {
  lease?: boolean
  lagMs?: number
  probe?: () => Promise<void>
  /** The catch-up pass; resolves to whether it walked every scope (`until` ends it early). */
  pass?: (until: () => boolean) => Promise<boolean>
  /** Changes each drainChanges call reports, in turn (then 0). */
  drains?: number[]
  differing?: number
  /** Called while the coordinator waits for confirmations: a replica's part. */
  onDrain?: () => Promise<void>
}

function setup(t: Test, script: Script = {}, policyText: Record<string, unknown> = {}, audit?: MemoryAuditLog) {
  const store = new MemoryCutoverStore()
  let policy: Policy = policySchema.parse({
    version: 1, authority: 'new', upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
    rules: [{ name: 'default', primary: 'old' }], cutover: { maxHoldMs: 400, retryAfterSec: 1 }, ...policyText,
  })
  const calls: string[] = []
  const drains = [...script.drains ?? []]
  const loop = {
    lease: script.lease === false ? undefined : { owner: 'me', token: 1, expiresAt: Infinity },
    pendingAgeMs: async () => script.lagMs ?? 0,
    probe: script.probe ?? (async () => undefined),
    pass: async (_summary: unknown, until: () => boolean) => { calls.push('pass'); return await script.pass?.(until) ?? true },
    quiesce: async () => { calls.push('quiesce') },
    resume: () => { calls.push('resume') },
    drainChanges: async () => { await script.onDrain?.(); return drains.shift() ?? 0 },
    settle: async (changes: ChangeEvent[]) => { calls.push(`settle ${changes.length}`); return script.differing ?? 0 },
  } as unknown as SyncLoop
  const state = { cutover: store, changes: { since: async () => [{ offset: '1', resourceType: 'alert-rule', tenant: 'acme', id: 'a', at: 0 }] } } as unknown as StateStore
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const switched: CutoverState[] = []
  const recorder = audit && new AuditRecorder({ audit, role: 'sync', replica: 'sync-1', conditions: new ConditionLog(log) })
  const coordinator = new CutoverCoordinator({ state, policy: () => policy, loop: () => loop, log, metrics, onSwitched: s => switched.push(s), ...(recorder ? { audit: recorder } : {}) })
  /** A proxy replica that confirms every step as soon as it is asked. */
  const replica = async () => {
    await store.checkIn('proxy-1')
    const s = await store.read()
    if (s?.run && s.phase !== 'steady') {
      await store.confirm(s.run.id, 'hold', 'proxy-1')
      if (s.phase === 'switch') await store.confirm(s.run.id, 'switch', 'proxy-1')
    }
  }
  const confirming = setInterval(() => void replica(), 5)
  t.teardown(() => clearInterval(confirming))
  return { store, coordinator, calls, logs, switched, metrics, setPolicy: (p: Partial<Policy>) => { policy = { ...policy, ...p } } }
}

async function steadyOld(store: MemoryCutoverStore) {
  return store.initialize('old')
}

t.test('an edit of the authority runs the cutover: catch-up, hold, drain, switch, and the sync is told', async t => {
  const { store, coordinator, calls, switched } = setup(t, { drains: [3, 0] })
  await steadyOld(store)
  await coordinator.tick()
  t.match(await store.read(), { epoch: 2, authority: 'new', phase: 'steady', lastSwitch: { from: 'old', to: 'new', holdMs: Number } })
  t.same(calls, ['pass', 'quiesce', 'settle 1'], 'the keys written in the look-back window are settled')
  t.match(switched, [{ authority: 'new' }])
  t.match(coordinator.describe(), { step: 'idle', run: null })
  await coordinator.tick()
  t.equal(switched.length, 1, 'nothing more to do once the authority is the desired one')
})

t.test('without a cutover state (the sync process creates it first) there is nothing to coordinate', async t => {
  const { store, coordinator, calls } = setup(t)
  await coordinator.tick()
  t.equal(await store.read(), undefined)
  t.same(calls, [])
})

t.test('prechecks refuse with the reason, in the state for every /cutover to show, and retry later', async t => {
  for (const [name, script, policy, reason] of [
    ['a fixed sync direction', {}, { sync: { ...policySchema.shape.sync.parse({}), direction: 'old-to-new' } }, /sync.direction is fixed to old-to-new/],
    ['a lagging sync', { lagMs: 5000 }, {}, /5000 ms behind the change stream \(cutover.maxLagMs 1000\)/],
    ['an unreachable future authority', { probe: async () => { throw new Error('connect ECONNREFUSED') } }, {}, /precheck failed: connect ECONNREFUSED/],
    ['a failing catch-up pass', { pass: async () => { throw new Error('old answered 500') } }, {}, /the catch-up pass failed: old answered 500/],
    ['a catch-up pass the loop ended early (a policy reload rebuilt it)', { pass: async () => false }, {}, /the sync stopped during the catch-up pass/],
  ] as const) {
    const { store, coordinator, logs } = setup(t, script, policy)
    await steadyOld(store)
    await coordinator.tick()
    t.match(await store.read(), { authority: 'old', phase: 'steady', lastAbort: { to: 'new', reason: reason } }, name)
    t.ok(logs.some(l => l.includes('refused')))
    await coordinator.tick()
    t.equal(logs.filter(l => l.includes('refused')).length, 1, `${name}: not tried again before retryAfterSec`)
  }
})

t.test('stopping during the catch-up pass refuses the run at once, before any write is held', async t => {
  // A pass over a large store that only a stop ends.
  const pass = async (until: () => boolean) => {
    while (!until()) await new Promise(r => setTimeout(r, 5))
    return false
  }
  const { store, coordinator, calls } = setup(t, { pass })
  await steadyOld(store)
  const run = coordinator.tick()
  while (!calls.includes('pass')) await new Promise(r => setTimeout(r, 5))
  await coordinator.close()
  await run
  t.match(await store.read(), { epoch: 1, authority: 'old', phase: 'steady', run: undefined, lastAbort: { to: 'new', reason: /refused: the sync stopped during the catch-up pass/ } })
  t.notOk(calls.includes('quiesce'), 'no hold began')
  await coordinator.tick()
  t.same(calls.filter(c => c === 'pass'), ['pass'], 'a closed coordinator starts no run')
})

t.test('a sync that lost its lease does not coordinate', async t => {
  const { store, coordinator } = setup(t, { lease: false })
  await steadyOld(store)
  await coordinator.tick()
  t.match(await store.read(), { authority: 'old', phase: 'steady', lastAbort: undefined })
})

t.test('steps that fail abort, leave writes on old and start the sync again', async t => {
  for (const [name, script, reason] of [
    ['a stream that keeps growing', { drains: Array(1000).fill(1), onDrain: () => new Promise<void>(r => setTimeout(r, 5)) }, /did not drain in time/],
    ['keys that stay different', { differing: 2 }, /2 key\(s\) written in the last 10000 ms still differ/],
    // Not one of the run's own refusals: an error it did not expect, named as a failure.
    ['a drain that throws', { onDrain: async () => { throw new Error('the change stream went away') } }, /^failed: the change stream went away/],
  ] as const) {
    const { store, coordinator, calls } = setup(t, script)
    await steadyOld(store)
    await coordinator.tick()
    t.match(await store.read(), { epoch: 1, authority: 'old', phase: 'steady', lastAbort: { to: 'new', reason } }, name)
    t.equal(calls.at(-1), 'resume')
  }
})

t.test('the cutover counters start at 0, so an alert on them sees the first abort as an increase', async t => {
  const { store, coordinator, metrics } = setup(t, { differing: 1 })
  const cutovers = async () => (await scrape(metrics)).split('\n').filter(l => l.startsWith('dualread_cutovers_total{')).sort()
  t.same(await cutovers(), ['aborted', 'refused', 'switched'].flatMap(result => ['new', 'old'].map(to => `dualread_cutovers_total{result="${result}",to="${to}"} 0`)).sort())
  await steadyOld(store)
  await coordinator.tick()
  t.ok((await cutovers()).includes('dualread_cutovers_total{result="aborted",to="new"} 1'))
})

t.test('a replica that does not confirm in time aborts the cutover', async t => {
  const { store, coordinator } = setup(t)
  await steadyOld(store)
  await store.checkIn('silent-replica')
  await coordinator.tick()
  t.match(await store.read(), { authority: 'old', lastAbort: { reason: /1 proxy replica\(s\) did not confirm the hold in time: silent-replica/ } })
})

t.test('a cutover the other way, asked for during the run, cancels it', async t => {
  const { store, coordinator } = setup(t, { onDrain: () => store.request({ to: 'old', fileAuthority: 'new', at: Date.now() }) })
  await steadyOld(store)
  await coordinator.tick()
  t.match(await store.read(), { authority: 'old', lastAbort: { reason: /cancelled: the desired authority is old again/ } })
})

t.test('a run whose state was moved under it, or that misses its deadline, aborts', async t => {
  const moved = setup(t, { onDrain: async () => {
    const s = (await moved.store.read())!
    await moved.store.transition(s, { ...s, run: { ...s.run!, id: 'someone-else' } })
  } })
  await steadyOld(moved.store)
  await moved.coordinator.tick()
  t.match(await moved.store.read(), { run: { id: 'someone-else' } }, 'the abort does not overwrite a state it does not own')

  const late = setup(t)
  await steadyOld(late.store)
  const transition = late.store.transition.bind(late.store)
  // As if the store's clock had passed the run's deadline by the time the switch reached it.
  late.store.transition = async (expected, next, o) => transition(expected, next, o?.beforeDeadline === undefined ? o : { beforeDeadline: -1 })
  await late.coordinator.tick()
  t.match(await late.store.read(), { authority: 'old', lastAbort: { reason: /the switch missed its deadline/ } })
})

t.test('a hold that cannot be written (another process moved the state first) is left to the next tick', async t => {
  const { store, coordinator, calls } = setup(t)
  await steadyOld(store)
  const transition = store.transition.bind(store)
  store.transition = async (expected, next, o) => next.phase === 'hold' ? false : transition(expected, next, o)
  await coordinator.tick()
  t.match(await store.read(), { epoch: 1, authority: 'old', phase: 'steady', lastAbort: undefined })
  t.same(calls, ['pass'], 'nothing was held or drained')
})

t.test('a hold that a stopped coordinator left behind is aborted once its deadline passed', async t => {
  const { store, coordinator } = setup(t)
  const steady = await steadyOld(store)
  const now = await store.now()
  await store.transition(steady, { ...steady, phase: 'hold', run: { id: 'dead', from: 'old', to: 'new', startedAt: now - 10_000, deadline: now - 5000, trigger: 'file' } })
  await coordinator.tick()
  t.match(await store.read(), { phase: 'steady', authority: 'old', lastAbort: { id: 'dead', reason: /the coordinator that began it stopped/ } })
  const live = setup(t)
  const s = await steadyOld(live.store)
  const hold: CutoverState = { ...s, phase: 'hold', run: { id: 'alive', from: 'old', to: 'new', startedAt: now, deadline: now + 60_000, trigger: 'file' } }
  await live.store.transition(s, hold)
  await live.coordinator.tick()
  t.same(await live.store.read(), hold, 'one still within its deadline is left alone')
  const broken = setup(t)
  const b = await steadyOld(broken.store)
  await broken.store.transition(b, { ...b, phase: 'hold' })
  await broken.coordinator.tick()
  t.match(await broken.store.read(), { phase: 'steady', lastAbort: { id: '(unknown)' } }, 'and one without a run is aborted')
})

t.test('a command wins over the file until the file is edited, also once carried out; then the file wins again', async t => {
  const { store, coordinator, setPolicy } = setup(t)
  await steadyOld(store)
  setPolicy({ authority: 'old' })
  await store.request({ to: 'new', fileAuthority: 'old', at: Date.now() })
  await coordinator.tick()
  t.match(await store.read(), { epoch: 2, authority: 'new', lastSwitch: { to: 'new' } })
  await coordinator.tick()
  t.match(await store.read(), { epoch: 2, authority: 'new' }, 'no cutover back to the file\'s old: the command still stands')
  t.match(await store.pendingRequest(), { to: 'new' })
  setPolicy({ authority: 'new' })
  await coordinator.tick()
  setPolicy({ authority: 'old' })
  await coordinator.tick()
  t.equal(await store.pendingRequest(), undefined, 'the file was edited since: the request is stale and dropped')
  t.match(await store.read(), { epoch: 3, authority: 'old', lastSwitch: { to: 'old' } }, 'and the file is what runs')
})

t.test('an abort that cannot be recorded is logged; the run expires at its deadline', async t => {
  const { store, coordinator, logs } = setup(t, { differing: 1 })
  await steadyOld(store)
  const transition = store.transition.bind(store)
  store.transition = async (expected, next, o) => {
    if (next.lastAbort && next.phase === 'steady' && expected.phase !== 'steady') throw new Error('redis went away')
    return transition(expected, next, o)
  }
  await coordinator.tick()
  t.ok(logs.some(l => l.includes('cannot record the abort')))
  t.match(await store.read(), { phase: 'hold' }, 'still the run, until the proxies let it go at its deadline')
})

t.test('the audit log records every step of a run, its switch, its abort and a refusal, each with its reason', async t => {
  const audit = new MemoryAuditLog()
  const events = () => audit.entries.toReversed().map(e => `${e.event}${e.detail['step'] ? ` ${String(e.detail['step'])}` : ''}`)
  const ran = setup(t, {}, {}, audit)
  await steadyOld(ran.store)
  await ran.coordinator.tick()
  t.same(events(), ['cutover-step precheck', 'cutover-step catch-up', 'cutover-step hold', 'cutover-step drain', 'cutover-step switch', 'cutover-switched'])
  const run = (await ran.store.read())!.lastSwitch!.id
  t.ok(audit.entries.every(e => e.detail['run'] === run && e.subject.startsWith(`run ${run}: `)), 'every entry names the run, the precheck and catch-up too')
  t.match(audit.entries[0], { role: 'sync', replica: 'sync-1', subject: `run ${run}: old → new`, reason: /writes go to new \(epoch 2, held \d+ ms\); the sync now runs new → old/, detail: { from: 'old', to: 'new', epoch: 2, trigger: 'file' } })
  t.match(audit.entries.at(-1), { reason: 'the policy file says authority: new' })
  t.match(ran.coordinator.describe(), { step: 'idle' }, 'and the coordinator is idle again')

  const aborted = new MemoryAuditLog()
  const failing = setup(t, { differing: 2 }, {}, aborted)
  await steadyOld(failing.store)
  await failing.coordinator.tick()
  t.match(aborted.entries[0], { event: 'cutover-aborted', subject: /^run \w+: old → new$/, reason: /2 key\(s\) written in the last 10000 ms still differ.*; writes stay on old/ })

  const refused = new MemoryAuditLog()
  const lagging = setup(t, { lagMs: 5000 }, {}, refused)
  await steadyOld(lagging.store)
  await lagging.store.request({ to: 'new', fileAuthority: 'new', at: Date.now() })
  await lagging.coordinator.tick()
  t.same(refused.entries.map(e => e.event), ['cutover-refused', 'cutover-step'])
  t.match(refused.entries, [{ reason: /5000 ms behind the change stream.*; writes stay on old, retried in 1 s/ }, { reason: 'asked by dualread cutover', detail: { trigger: 'command' } }])
})
