// The coordinated write cutover, run by the sync leader: precheck → hold → drain → switch, or
// abort. The policy file (or `dualread cutover`) says which authority is desired; this moves the
// fleet's effective authority there without losing an acknowledged write, and leaves the old
// store following the new one (the sync reverses), so going back is the same protocol again.
import { randomUUID } from 'node:crypto'
import type { Policy, Side } from '../policy/schema.ts'
import type { StateStore } from '../state/state-store.ts'
import { emptySummary, type SyncLoop } from '../sync/loop.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { startCutoverTrace } from '../telemetry/spans.ts'
import type { AuditRecorder } from '../state/audit-recorder.ts'
import type { AuditEntry, AuditEvent } from '../state/audit-log.ts'
import { desiredAuthority, type ConfirmPhase, type CutoverRun, type CutoverState } from './state.ts'

const CONFIRM_POLL_MS = 20
/** Shares of cutover.maxHoldMs by which each step must be done, so the switch lands before the deadline. */
const HOLD_CONFIRMED_BY = 0.5
const DRAINED_BY = 0.8
const SWITCH_CONFIRMED_BY = 0.95
const LOOK_BACK_MAX_KEYS = 10_000

export type CutoverStep = 'idle' | 'precheck' | 'catch-up' | 'hold' | 'drain' | 'switch'

export interface CoordinatorOptions {
  state: StateStore
  policy: () => Policy
  /** The sync loop in force (it is rebuilt on reloads and after a switch). */
  loop: () => SyncLoop
  log: Logger
  metrics: Metrics
  /** Called after a switch: the sync must now run from the new authority. */
  onSwitched: (state: CutoverState) => void
  /** Where each step, switch, abort and refusal is recorded (`dualread history`); never waited for. */
  audit?: AuditRecorder
}

class Abort extends Error {}

export class CutoverCoordinator {
  #o: CoordinatorOptions
  #running: Promise<void> | undefined
  #closing = false
  #step: CutoverStep = 'idle'
  #run: CutoverRun | undefined
  #retryAt = new Map<Side, number>()

  constructor(o: CoordinatorOptions) {
    this.#o = o
    o.metrics.declareCutovers()
  }

  describe(): { step: CutoverStep, run: CutoverRun | null } {
    return { step: this.#step, run: this.#run ?? null }
  }

  /** Checks whether a cutover is due and starts it (one at a time); called on a timer by the sync leader. */
  async tick(): Promise<void> {
    if (this.#closing || this.#running || this.#o.loop().lease === undefined) return
    const store = this.#o.state.cutover
    const policy = this.#o.policy()
    // Created by the sync process's check (from the authority its loop runs from) before any tick.
    const state = await store.read()
    if (!state) return
    if (state.phase !== 'steady') {
      // Left by a coordinator that stopped (or was killed) mid-run: past its deadline it can
      // never switch, so it is aborted, and the writes it held go on to the authority in force.
      if (!state.run || await store.now() >= state.run.deadline) await this.#abort(state, 'the coordinator that began it stopped before it finished')
      return
    }
    const request = await store.pendingRequest()
    // A command stands until the file's authority is edited (even once carried out: dropping it
    // then would make the file win and cut straight back). A request from before the edit is stale.
    if (request && request.fileAuthority !== policy.authority) await store.request(undefined)
    const to = desiredAuthority(policy.authority, request)
    if (to === state.authority) return
    if (Date.now() < (this.#retryAt.get(to) ?? 0)) return
    this.#running = this.#cutover(state, to, request && request.to === to ? 'command' : 'file').finally(() => { this.#running = undefined })
    await this.#running
  }

  /**
   * Waits for a run in progress (on stop). A run still in its catch-up pass is refused at the next
   * page (no write was held yet, and a pass over a large store outlasts a pod's grace period); a
   * run holding writes goes on to its switch or abort, which maxHoldMs bounds.
   */
  async close(): Promise<void> {
    this.#closing = true
    await this.#running
  }

  async #cutover(state: CutoverState, to: Side, trigger: CutoverRun['trigger']): Promise<void> {
    const { log, metrics } = this.#o
    const store = this.#o.state.cutover
    const policy = this.#o.policy()
    const loop = this.#o.loop()
    const from = state.authority
    const summary = emptySummary()
    // Named from the start, so the audit log ties the precheck and catch-up to the run they lead to.
    const id = randomUUID().slice(0, 8)
    // While tracing: the run is a span, each step a child span of it.
    const traced = startCutoverTrace(id, from, to, trigger)
    const note = (step: CutoverStep, reason: string) => {
      traced.step(step)
      this.#note('cutover-step', `run ${id}: ${step} ${from} → ${to}`, reason, { run: id, step, from, to, trigger })
    }
    this.#step = 'precheck'
    note('precheck', trigger === 'command' ? 'asked by dualread cutover' : `the policy file says authority: ${to}`)
    const refusal = await this.#precheck(policy, loop, to)
    if (refusal) {
      traced.end('refused', refusal)
      await this.#refuse(state, to, refusal, id)
      return
    }
    // Writes that bypassed the proxy reach the future authority before the direction reverses.
    this.#step = 'catch-up'
    note('catch-up', 'a full pass copies what the change stream may have missed')
    log.info({ from, to, trigger }, `cutover to ${to}: copying what the change stream may have missed (a full pass) before holding writes`)
    let reason: string | undefined
    try {
      // Holding writes after a pass that ended early would switch with objects not copied.
      if (!await loop.pass(summary, () => this.#closing)) reason = 'the sync stopped during the catch-up pass'
    } catch (err) {
      reason = `the catch-up pass failed: ${(err as Error).message}`
    }
    if (reason !== undefined) {
      traced.end('refused', reason)
      await this.#refuse(state, to, reason, id)
      return
    }
    const { maxHoldMs, lookBackMs } = policy.cutover
    const startedAt = await store.now()
    const run: CutoverRun = { id, from, to, startedAt, deadline: startedAt + maxHoldMs, trigger }
    const hold: CutoverState = { ...state, phase: 'hold', run }
    if (!await store.transition(state, hold)) return traced.end('superseded', 'the cutover state changed before the hold') // someone else moved the state; the next tick looks again
    this.#run = run
    const t0 = performance.now()
    const by = (share: number) => t0 + share * maxHoldMs
    let current = hold
    this.#step = 'hold'
    note('hold', `writes are held on every proxy, at most ${maxHoldMs} ms (cutover.maxHoldMs)`)
    log.warn({ run: run.id, from, to, trigger, maxHoldMs }, `cutover to ${to}: writes are held on every proxy`)
    try {
      await this.#confirmations(run, 'hold', by(HOLD_CONFIRMED_BY))
      this.#step = 'drain'
      note('drain', 'every proxy confirmed the hold; the change stream is applied and recent keys settled')
      await loop.quiesce()
      while (await loop.drainChanges(summary) > 0) {
        if (performance.now() > by(DRAINED_BY)) throw new Abort('the change stream did not drain in time')
      }
      const recent = await this.#o.state.changes.since(Date.now() - (performance.now() - t0) - lookBackMs, LOOK_BACK_MAX_KEYS)
      const differing = await loop.settle(recent, Date.now() + (by(DRAINED_BY) - performance.now()), summary)
      if (differing > 0) throw new Abort(`${differing} key(s) written in the last ${lookBackMs} ms still differ between the stores`)
      const wanted = desiredAuthority(this.#o.policy().authority, await store.pendingRequest())
      if (wanted !== to) throw new Abort(`cancelled: the desired authority is ${wanted} again`)
      this.#step = 'switch'
      note('switch', 'the stores agree; every proxy is asked to be ready for the new authority')
      const switching: CutoverState = { ...hold, phase: 'switch' }
      if (!await store.transition(hold, switching)) throw new Abort('the cutover state changed under the coordinator')
      current = switching
      await this.#confirmations(run, 'switch', by(SWITCH_CONFIRMED_BY))
      const holdMs = Math.round(performance.now() - t0)
      const done: CutoverState = {
        epoch: state.epoch + 1, authority: to, phase: 'steady',
        lastSwitch: { id: run.id, from, to, at: Date.now(), holdMs }, lastAbort: state.lastAbort,
      }
      if (!await store.transition(switching, done, { beforeDeadline: run.deadline })) throw new Abort(`the switch missed its deadline (cutover.maxHoldMs ${maxHoldMs} ms)`)
      traced.end('switched')
      metrics.cutovers.add(1, { result: 'switched', to })
      this.#note('cutover-switched', `run ${id}: ${from} → ${to}`, `writes go to ${to} (epoch ${done.epoch}, held ${holdMs} ms); the sync now runs ${to} → ${from}`,
        { run: id, from, to, epoch: done.epoch, holdMs, trigger })
      log.warn({ run: run.id, from, to, holdMs, epoch: done.epoch, drained: summary }, `cutover done: writes go to ${to}; the sync now runs ${to} → ${from}`)
      this.#o.onSwitched(done)
    } catch (err) {
      const reason = err instanceof Abort ? err.message : `failed: ${(err as Error).message}`
      traced.end('aborted', reason)
      await this.#abort(current, reason)
      loop.resume()
      this.#retryAt.set(to, Date.now() + policy.cutover.retryAfterSec * 1000)
    } finally {
      this.#step = 'idle'
      this.#run = undefined
    }
  }

  async #precheck(policy: Policy, loop: SyncLoop, to: Side): Promise<string | undefined> {
    if (policy.sync.direction !== 'auto') return `sync.direction is fixed to ${policy.sync.direction}: after the switch the old store would not follow the new one; set it to auto`
    try {
      const lag = await loop.pendingAgeMs()
      if (lag > policy.cutover.maxLagMs) return `the sync is ${lag} ms behind the change stream (cutover.maxLagMs ${policy.cutover.maxLagMs})`
      await loop.probe(to)
    } catch (err) {
      return `precheck failed: ${(err as Error).message}`
    }
    return undefined
  }

  /** Waits until every live proxy replica has confirmed `phase` of the run, or throws by `deadline` (performance.now()). */
  async #confirmations(run: CutoverRun, phase: ConfirmPhase, deadline: number): Promise<void> {
    const store = this.#o.state.cutover
    const withinMs = this.#o.policy().cutover.replicaTimeoutSec * 1000
    for (;;) {
      const [replicas, confirmed] = await Promise.all([store.replicas(withinMs), store.confirmed(run.id, phase)])
      const missing = replicas.filter(r => !confirmed.has(r))
      if (missing.length === 0) return
      if (performance.now() >= deadline) {
        throw new Abort(`${missing.length} proxy replica(s) did not confirm the ${phase} in time: ${missing.slice(0, 5).join(', ')}`)
      }
      await new Promise(r => setTimeout(r, CONFIRM_POLL_MS))
    }
  }

  async #abort(state: CutoverState, reason: string): Promise<void> {
    const run = state.run ?? { id: '(unknown)', from: state.authority, to: state.authority }
    const aborted: CutoverState = {
      epoch: state.epoch, authority: state.authority, phase: 'steady',
      lastSwitch: state.lastSwitch, lastAbort: { id: run.id, to: run.to, at: Date.now(), reason },
    }
    try {
      await this.#o.state.cutover.transition(state, aborted)
    } catch (err) {
      // Unreachable store: the run cannot switch after its deadline, and every proxy lets it go then.
      this.#o.log.warn({ err: { message: (err as Error).message }, run: run.id }, 'cannot record the abort; the run expires at its deadline')
    }
    this.#o.metrics.cutovers.add(1, { result: 'aborted', to: run.to })
    this.#note('cutover-aborted', `run ${run.id}: ${run.from} → ${run.to}`, `${reason}; writes stay on ${state.authority}`, { run: run.id, from: run.from, to: run.to })
    this.#o.log.error({ run: run.id, from: run.from, to: run.to, reason }, `cutover to ${run.to} aborted: ${reason}; writes stay on ${state.authority}`)
  }

  #note(event: AuditEvent, subject: string, reason: string, detail: AuditEntry['detail']): void {
    this.#o.audit?.record(event, subject, reason, detail)
  }

  /** Refused before any write was held: said in the state (for every /cutover), the log and metrics. */
  async #refuse(state: CutoverState, to: Side, reason: string, id: string): Promise<void> {
    const { retryAfterSec } = this.#o.policy().cutover
    this.#retryAt.set(to, Date.now() + retryAfterSec * 1000)
    this.#o.metrics.cutovers.add(1, { result: 'refused', to })
    this.#note('cutover-refused', `run ${id}: ${state.authority} → ${to}`, `${reason}; writes stay on ${state.authority}, retried in ${retryAfterSec} s`, { run: id, from: state.authority, to })
    this.#o.log.error({ to, reason }, `cutover to ${to} refused: ${reason}; writes stay on ${state.authority}, retried in ${retryAfterSec} s`)
    this.#step = 'idle'
    const refused: CutoverState = { ...state, lastAbort: { id: '(precheck)', to, at: Date.now(), reason: `refused: ${reason}` } }
    await this.#o.state.cutover.transition(state, refused).catch(() => undefined)
  }
}
