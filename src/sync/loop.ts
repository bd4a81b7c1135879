// The sync loop: keeps the other store equal to the authority. It leads while it holds the
// single-writer lease (lease-holder.ts) and runs two workers side by side: the change drain
// (drain.ts, writes through the proxy) and the periodic full scan (scan.ts, the backfill, and
// writes that bypassed the proxy and deletions). Every unit of work is a key, applied by the
// KeyApplier (apply.ts); the write cutover drives the loop from outside (src/cutover/coordinator.ts).
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { CompiledPolicy } from '../policy/compile.ts'
import type { Policy, Side } from '../policy/schema.ts'
import type { ChangeEvent } from '../state/change-stream.ts'
import type { Lease } from '../state/lease.ts'
import type { StateStore } from '../state/state-store.ts'
import { ConditionLog, type Condition } from '../telemetry/condition-log.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { LinkTranslator } from '../parity/link-translation.ts'
import { parentsFirst } from '../policy/references.ts'
import { isSynced } from '../policy/shape.ts'
import { RestAdapter, type ResourceAdapter } from './adapter.ts'
import { KeyApplier } from './apply.ts'
import { findDangling, type DanglingReport } from './dangling.ts'
import { ChangeDrain } from './drain.ts'
import { LeaseLostError } from './fencing.ts'
import { LeaseHolder } from './lease-holder.ts'
import { Scanner } from './scan.ts'
import { emptySummary, type PassSummary } from './summary.ts'
import { Throttle } from './throttle.ts'
import type { SyncProgress } from './progress.ts'

const CHANGE_POLL_MS = 100
const STATE_RETRY_MS = 1000
/** The two workers of a leading loop, each paused by its own errors. */
type Worker = 'changes' | 'scan'

function paused(worker: Worker): Condition {
  const what = worker === 'scan' ? 'full scan' : 'change stream'
  return {
    fields: { worker },
    began: 'sync paused by an error; retrying',
    summary: (n, s) => `${n} more errors paused the sync's ${what} (last ${s} s); it keeps retrying`,
    ended: n => `the sync's ${what} works again after ${n} error(s)`,
  }
}

export interface SyncLoopOptions {
  compiled: CompiledPolicy
  state: StateStore
  log: Logger
  metrics: Metrics
  progress: SyncProgress
  /** For stores that need custom code; defaults to the policy-described REST adapter per side. */
  adapters?: Record<Side, ResourceAdapter>
  owner?: string
  /** How many keys' latest change times are kept for the watermark rule (oldest forgotten first). */
  recentChangesMax?: number
  /**
   * The effective write authority (the fleet's cutover state) this loop was built for; default
   * the policy's. A loop never leads while the state says another authority is in force.
   */
  authority?: Side
}

/** Which way objects flow: from the authority in force to the other side, unless the policy fixes it. */
export function syncDirection(policy: Policy, authority: Side = policy.authority): { source: Side, target: Side } {
  const { direction } = policy.sync
  const source: Side = direction === 'old-to-new' ? 'old' : direction === 'new-to-old' ? 'new' : authority
  return { source, target: source === 'old' ? 'new' : 'old' }
}

export { emptySummary, LeaseLostError, type PassSummary }

export class SyncLoop {
  readonly source: Side
  readonly target: Side
  readonly totals: PassSummary = emptySummary()
  #o: SyncLoopOptions
  #policy: Policy
  #adapters: Record<Side, ResourceAdapter>
  #leader: LeaseHolder
  #scanner: Scanner
  #drain: ChangeDrain
  #stopping = false
  #running: Promise<void> | undefined
  #authority: Side
  /** Set while a cutover has the workers stopped; the lease stays renewed. */
  #paused: Promise<void> | undefined
  #resume: (() => void) | undefined
  #working: Promise<unknown> | undefined
  #errors: ConditionLog

  constructor(o: SyncLoopOptions) {
    this.#o = o
    this.#errors = new ConditionLog(o.log)
    this.#policy = o.compiled.policy
    this.#authority = o.authority ?? this.#policy.authority
    const { source, target } = syncDirection(this.#policy, this.#authority)
    this.source = source
    this.target = target
    const { sync } = this.#policy
    // Read-only resources (sync: false, or a collection without an item path) are compared, never
    // written; the others in parents-first order (a referenced type before the types naming it).
    const resources = parentsFirst(this.#policy.resources).filter(isSynced)
    this.#leader = new LeaseHolder(o.state.lease, o.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, sync.leaseTtlMs, o.log)
    this.#adapters = o.adapters ?? {
      old: new RestAdapter('old', this.#policy, new Throttle(sync.maxWritesPerSecond), o.metrics),
      new: new RestAdapter('new', this.#policy, new Throttle(sync.maxWritesPerSecond), o.metrics),
    }
    const fence = this.#leader.fence
    const apply = new KeyApplier({
      state: o.state, log: o.log, metrics: o.metrics, adapters: this.#adapters, source, target,
      resources, concurrency: sync.concurrency, fence, changedAt: key => this.#drain.changedAt(key), links: new LinkTranslator(this.#policy),
    })
    this.#scanner = new Scanner({ policy: this.#policy, adapters: this.#adapters, source, target, checkpoints: o.state.checkpoints, apply, progress: o.progress, fence })
    this.#drain = new ChangeDrain({
      changes: o.state.changes, signals: o.state.signals, resources, batchSize: sync.batchSize, apply, scanner: this.#scanner,
      fence, pause: ms => this.#pause(ms), recentChangesMax: o.recentChangesMax,
    })
    o.metrics.observeSyncLag(() => this.lag())
  }

  get owner(): string {
    return this.#leader.owner
  }

  /** Per resource type, how long the oldest change not yet applied has waited (0 when none waits). */
  lag(): Array<{ resourceType: string, seconds: number }> {
    return this.#drain.lag()
  }

  /** The write authority this loop was built for: it syncs from it. */
  get authority(): Side {
    return this.#authority
  }

  get lease(): Lease | undefined {
    return this.#leader.current
  }

  /**
   * Runs until stop(): waits for the single-writer lease (as a standby while another process
   * holds it), then applies changes as they come and scans everything every fullScanIntervalSec.
   */
  start(): Promise<void> {
    this.#running ??= this.#run()
    return this.#running
  }

  async #run(): Promise<void> {
    const { log } = this.#o
    let standbyLogged = false
    while (!this.#stopping) {
      let lease
      try {
        lease = await this.#leader.take()
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'sync state store unavailable; retrying')
        await this.#pause(STATE_RETRY_MS)
        continue
      }
      if (!lease) {
        if (!standbyLogged) log.info('another sync process holds the lease; standing by')
        standbyLogged = true
        await this.#pause(this.#policy.sync.leaseTtlMs / 3)
        continue
      }
      standbyLogged = false
      if (await this.#authorityMoved()) continue
      log.info({ owner: this.owner, token: lease.token, from: this.source, to: this.target }, 'sync lease acquired; syncing')
      await this.#lead()
    }
  }

  /**
   * A standby built before a cutover switched must not lead in the old direction: it gives the
   * lease back and waits for its process to build the loop the new way round.
   */
  async #authorityMoved(): Promise<boolean> {
    let state
    try {
      state = await this.#o.state.cutover.read() ?? await this.#o.state.cutover.initialize(this.#authority)
    } catch (err) {
      this.#o.log.warn({ err: { message: (err as Error).message } }, 'cannot read the write authority; retrying')
    }
    if (state !== undefined && state.authority === this.#authority) return false
    if (state !== undefined) this.#o.log.warn({ built: this.#authority, inForce: state.authority }, 'the write authority moved; this loop stands down for one built the other way round')
    await this.#leader.release()
    await this.#pause(STATE_RETRY_MS)
    return true
  }

  /** While holding the lease: the change drain and the scans run side by side (unless a cutover paused them). */
  async #lead(): Promise<void> {
    const stopRenewing = this.#leader.keepRenewed()
    try {
      while (this.#leading) {
        this.#working = Promise.all([this.#followChanges(), this.#scanPeriodically()])
        await this.#working
        if (this.#paused) await this.#paused
      }
    } finally {
      stopRenewing()
    }
  }

  /** Stops the change follower and the scans (the batch in hand finishes); the lease stays held. */
  async quiesce(): Promise<void> {
    this.#paused ??= new Promise(resolve => { this.#resume = resolve })
    await this.#working
  }

  /** Starts the workers again after quiesce(). */
  resume(): void {
    this.#resume?.()
    this.#paused = undefined
  }

  get #leading(): boolean {
    return !this.#stopping && this.#leader.current !== undefined
  }

  get #active(): boolean {
    return this.#leading && this.#paused === undefined
  }

  async #followChanges(): Promise<void> {
    while (this.#active) {
      try {
        const applied = await this.drainChanges(this.totals)
        this.#errors.end('changes')
        if (applied === 0) await this.#pause(CHANGE_POLL_MS)
      } catch (err) {
        await this.#recover(err, 'changes')
      }
    }
  }

  async #scanPeriodically(): Promise<void> {
    while (this.#active) {
      try {
        await this.pass(this.totals, () => !this.#active)
        this.#errors.end('scan')
        await this.#pause(this.#policy.sync.fullScanIntervalSec * 1000, () => !this.#active)
      } catch (err) {
        await this.#recover(err, 'scan')
      }
    }
  }

  async #recover(err: unknown, worker: Worker): Promise<void> {
    if (err instanceof LeaseLostError) {
      this.#o.log.warn(err.message)
      this.#leader.drop()
      return
    }
    // One line when it begins, a count per interval, one when work goes through again.
    this.#errors.event(worker, () => paused(worker), { err: { message: (err as Error).message } })
    await this.#pause(STATE_RETRY_MS)
  }

  /** Applies the next batch of changes from the stream; resolves to how many it read. */
  drainChanges(summary: PassSummary): Promise<number> {
    return this.#drain.drain(summary)
  }

  /**
   * One full pass: every resource type and tenant, resuming where a checkpoint says; stopping
   * the loop, or `until` turning true, ends it early. Resolves to whether it walked every scope.
   */
  pass(summary: PassSummary, until: () => boolean = () => false): Promise<boolean> {
    return this.#scanner.pass(summary, () => this.#stopping || until())
  }

  /** How long the oldest change not applied yet has waited (ms); 0 when the stream is drained. */
  pendingAgeMs(): Promise<number> {
    return this.#drain.pendingAgeMs()
  }

  /** Throws when `side` cannot list what the sync walks (its tenants), with the reason. */
  async probe(side: Side): Promise<void> {
    await this.#adapters[side].listTenants()
  }

  /**
   * Makes the keys of `changes` equal on both sides and reads them again until they are, or
   * until `deadline` (ms). Resolves to how many still differ.
   */
  settle(changes: ChangeEvent[], deadline: number, summary: PassSummary): Promise<number> {
    return this.#drain.settle(changes, deadline, summary)
  }

  /** How many keys differ between the two sides now (read-only). */
  differences(): Promise<number> {
    return this.#scanner.differences()
  }

  /** Links, on either side, to objects the same store does not have (read-only). */
  async danglingReferences(): Promise<DanglingReport> {
    const tenants = await this.#adapters[this.source].listTenants()
    return findDangling(this.#policy, this.#adapters, tenants, [this.source, this.target], this.#policy.sync.batchSize)
  }

  /** Waits `ms`, waking early when stopping (or when `until` turns true). */
  async #pause(ms: number, until: () => boolean = () => false): Promise<void> {
    const deadline = Date.now() + ms
    while (!this.#stopping && !until() && Date.now() < deadline) await new Promise(r => setTimeout(r, Math.min(100, deadline - Date.now())))
  }

  /**
   * One complete pass for `dualread sync --once`: the change stream, every scope, the change
   * stream again, then read-only checks: that both sides are equal, and that no object on either
   * side names one its store does not have.
   */
  async runOnce(waitForLeaseMs: number): Promise<PassSummary & { differences: number, dangling: DanglingReport }> {
    const deadline = Date.now() + waitForLeaseMs
    while (!await this.#leader.take()) {
      if (Date.now() > deadline) throw new Error('another sync process holds the lease; --once did not run')
      await this.#pause(500)
    }
    const summary = emptySummary()
    // Renewed like a running sync's: a pass over a large store outlasts one lease period.
    const stopRenewing = this.#leader.keepRenewed()
    try {
      while (await this.drainChanges(summary) > 0) { /* until the stream is empty */ }
      await this.pass(summary)
      while (await this.drainChanges(summary) > 0) { /* writes during the pass */ }
      return { ...summary, differences: await this.differences(), dangling: await this.danglingReferences() }
    } finally {
      stopRenewing()
      await this.#leader.release()
    }
  }

  /** Finishes the batch in hand (its checkpoint included), releases the lease, closes connections. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.resume()
    await this.#running
    await this.#leader.release()
    this.#errors.close()
    await Promise.all([this.#adapters.old.close(), this.#adapters.new.close()])
  }
}
