// The sync loop: keeps the other store equal to the authority. It leads while it holds the
// single-writer lease, and finds the work: the change stream (writes through the proxy), a
// backfill over every resource type and tenant, and a periodic full scan that also catches writes
// that bypassed the proxy and deletions. Every unit of work is a key, applied by the KeyApplier
// (apply.ts); the write cutover drives it from outside (src/cutover/coordinator.ts).
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { CompiledPolicy } from '../policy/compile.ts'
import type { Policy, Resource, Side } from '../policy/schema.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { isTenantScoped, RestAdapter, type ResourceAdapter } from './adapter.ts'
import { KeyApplier } from './apply.ts'
import { LeaseLostError } from './fencing.ts'
import { syncKey, type ChangeEvent, type Lease, type StateStore, type SyncKey } from './state-store.ts'
import { Throttle } from './throttle.ts'
import type { SyncProgress } from './progress.ts'

const CHANGE_POLL_MS = 100
const STATE_RETRY_MS = 1000
/** Latest change time per key, for the watermark rule; older entries are forgotten first. */
const RECENT_CHANGES_MAX = 100_000

export interface PassSummary {
  scanned: number
  upserted: number
  deleted: number
  unchanged: number
  skipped: number
  conflicts: number
  errors: number
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

export { LeaseLostError }

export const emptySummary = (): PassSummary => ({ scanned: 0, upserted: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 })

export class SyncLoop {
  readonly owner: string
  readonly source: Side
  readonly target: Side
  #o: SyncLoopOptions
  #policy: Policy
  #adapters: Record<Side, ResourceAdapter>
  #apply: KeyApplier
  #resources: Map<string, Resource>
  #recentChanges = new Map<SyncKey, number>()
  #lease: Lease | undefined
  #stopping = false
  #running: Promise<void> | undefined
  #authority: Side
  /** Set while a cutover has the workers stopped; the lease stays renewed. */
  #paused: Promise<void> | undefined
  #resume: (() => void) | undefined
  #working: Promise<unknown> | undefined
  #oldestPending = new Map<string, number>()
  readonly totals: PassSummary = emptySummary()

  constructor(o: SyncLoopOptions) {
    this.#o = o
    this.#policy = o.compiled.policy
    this.#authority = o.authority ?? this.#policy.authority
    const { source, target } = syncDirection(this.#policy, this.#authority)
    this.source = source
    this.target = target
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
    this.#adapters = o.adapters ?? {
      old: new RestAdapter('old', this.#policy, new Throttle(this.#policy.sync.maxWritesPerSecond), o.metrics),
      new: new RestAdapter('new', this.#policy, new Throttle(this.#policy.sync.maxWritesPerSecond), o.metrics),
    }
    this.#resources = new Map(this.#policy.resources.map(r => [r.type, r]))
    this.#apply = new KeyApplier({
      state: o.state, log: o.log, metrics: o.metrics, adapters: this.#adapters, source, target,
      resources: this.#policy.resources, concurrency: this.#policy.sync.concurrency,
      fence: () => this.#fence(), changedAt: key => this.#recentChanges.get(key),
    })
    o.metrics.observeSyncLag(() => this.lag())
  }

  /** Per resource type, how long the oldest change not yet applied has waited (0 when none waits). */
  lag(): Array<{ resourceType: string, seconds: number }> {
    const now = Date.now()
    return [...this.#resources.keys()].map(type => ({ resourceType: type, seconds: (now - (this.#oldestPending.get(type) ?? now)) / 1000 }))
  }

  /** The write authority this loop was built for: it syncs from it. */
  get authority(): Side {
    return this.#authority
  }

  get lease(): Lease | undefined {
    return this.#lease
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
      try {
        this.#lease = await this.#o.state.acquireLease(this.owner, this.#policy.sync.leaseTtlMs)
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'sync state store unavailable; retrying')
        await this.#pause(STATE_RETRY_MS)
        continue
      }
      if (!this.#lease) {
        if (!standbyLogged) log.info('another sync process holds the lease; standing by')
        standbyLogged = true
        await this.#pause(this.#policy.sync.leaseTtlMs / 3)
        continue
      }
      standbyLogged = false
      if (await this.#authorityMoved()) continue
      log.info({ owner: this.owner, token: this.#lease.token, from: this.source, to: this.target }, 'sync lease acquired; syncing')
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
    await this.#o.state.releaseLease(this.#lease!).catch(() => undefined)
    this.#lease = undefined
    await this.#pause(STATE_RETRY_MS)
    return true
  }

  /** While holding the lease: the change stream and the scans run side by side (unless a cutover paused them). */
  async #lead(): Promise<void> {
    const renew = setInterval(() => void this.#renew(), this.#policy.sync.leaseTtlMs / 3)
    try {
      while (this.#leading) {
        this.#working = Promise.all([this.#followChanges(), this.#scanPeriodically()])
        await this.#working
        if (this.#paused) await this.#paused
      }
    } finally {
      clearInterval(renew)
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

  get #active(): boolean {
    return this.#leading && this.#paused === undefined
  }

  async #renew(): Promise<void> {
    try {
      const lease = await this.#o.state.acquireLease(this.owner, this.#policy.sync.leaseTtlMs)
      if (lease?.token !== this.#lease?.token) this.#lease = undefined
    } catch (err) {
      // An unreachable store cannot confirm the lease: stop writing until it can.
      this.#o.log.warn({ err: { message: (err as Error).message } }, 'cannot renew the sync lease; pausing writes')
      this.#lease = undefined
    }
  }

  get #leading(): boolean {
    return !this.#stopping && this.#lease !== undefined
  }

  async #followChanges(): Promise<void> {
    while (this.#active) {
      try {
        const applied = await this.drainChanges(this.totals)
        if (applied === 0) await this.#pause(CHANGE_POLL_MS)
      } catch (err) {
        await this.#recover(err)
      }
    }
  }

  async #scanPeriodically(): Promise<void> {
    while (this.#active) {
      try {
        await this.pass(this.totals, () => !this.#active)
        await this.#pause(this.#policy.sync.fullScanIntervalSec * 1000, () => !this.#active)
      } catch (err) {
        await this.#recover(err)
      }
    }
  }

  async #recover(err: unknown): Promise<void> {
    if (err instanceof LeaseLostError) {
      this.#o.log.warn(err.message)
      this.#lease = undefined
      return
    }
    this.#o.log.warn({ err: { message: (err as Error).message } }, 'sync paused by an error; retrying')
    await this.#pause(STATE_RETRY_MS)
  }

  /** Applies the next batch of changes from the stream; resolves to how many it read. */
  async drainChanges(summary: PassSummary): Promise<number> {
    const { state } = this.#o
    const offset = await state.getOffset()
    const changes = await state.readChanges(offset, this.#policy.sync.batchSize)
    if (changes.length === 0) {
      this.#oldestPending.clear()
      return 0
    }
    const scopes = this.#scopesOf(changes)
    for (const change of changes) {
      if (!this.#resources.has(change.resourceType)) continue
      if (!this.#oldestPending.has(change.resourceType)) this.#oldestPending.set(change.resourceType, change.at)
      if (change.id !== undefined) this.#noteChange(syncKey(change.resourceType, change.tenant, change.id), change)
    }
    for (const g of scopes) {
      if (g.whole) await this.#scanScope(g.resource, g.tenant, summary)
      else await this.#apply.applyKeys(g.resource, g.tenant, [...g.ids], summary)
      await state.publishApplied(g.resource.type, g.tenant, g.upTo)
    }
    await this.#fence()
    await state.setOffset(changes[changes.length - 1]!.offset)
    this.#oldestPending.clear()
    return changes.length
  }

  /**
   * Changes by resource type and tenant: the ids written, whether a whole collection was (an
   * id-less POST), and the latest write time. Types no longer in the policy are left out.
   */
  #scopesOf(changes: ChangeEvent[]): Array<{ resource: Resource, tenant: string, ids: Set<string>, whole: boolean, upTo: number }> {
    const scopes = new Map<string, { resource: Resource, tenant: string, ids: Set<string>, whole: boolean, upTo: number }>()
    for (const change of changes) {
      const resource = this.#resources.get(change.resourceType)
      if (!resource) continue // a type removed from the policy since the write
      const id = `${change.resourceType}\u0000${change.tenant}`
      let scope = scopes.get(id)
      if (!scope) scopes.set(id, scope = { resource, tenant: change.tenant, ids: new Set(), whole: false, upTo: 0 })
      scope.upTo = Math.max(scope.upTo, change.at)
      if (change.id === undefined) scope.whole = true
      else scope.ids.add(change.id)
    }
    return [...scopes.values()]
  }

  #noteChange(key: SyncKey, change: ChangeEvent): void {
    this.#recentChanges.delete(key)
    this.#recentChanges.set(key, change.at)
    if (this.#recentChanges.size > (this.#o.recentChangesMax ?? RECENT_CHANGES_MAX)) this.#recentChanges.delete(this.#recentChanges.keys().next().value!)
  }

  /** One full pass: every resource type and tenant, resuming where a checkpoint says; `until` ends it early. */
  async pass(summary: PassSummary, until: () => boolean = () => this.#stopping): Promise<void> {
    const tenants = await this.#tenants()
    for (const resource of this.#policy.resources) {
      const scopes = isTenantScoped(resource, this.#policy) ? tenants : ['']
      this.#o.progress.begin(resource.type, scopes.length)
      for (const tenant of scopes) {
        // A scope checks `until` before each page; ended early, the pass ends with it.
        const objects = await this.#scanScope(resource, tenant, summary, until)
        if (objects === undefined) return
        this.#o.progress.scopeDone(resource.type, objects)
      }
    }
  }

  /** How long the oldest change not applied yet has waited (ms); 0 when the stream is drained. */
  async pendingAgeMs(): Promise<number> {
    const [first] = await this.#o.state.readChanges(await this.#o.state.getOffset(), 1)
    return first ? Math.max(0, Date.now() - first.at) : 0
  }

  /** Throws when `side` cannot list what the sync walks (its tenants), with the reason. */
  async probe(side: Side): Promise<void> {
    await this.#adapters[side].listTenants()
  }

  /**
   * Makes the keys of `changes` equal on both sides and reads them again until they are (a store
   * that lags shows the write late), or until `deadline` (ms). Resolves to how many still differ.
   */
  async settle(changes: ChangeEvent[], deadline: number, summary: PassSummary): Promise<number> {
    let differing = 0
    for (const { resource, tenant, ids, whole } of this.#scopesOf(changes)) {
      if (whole) await this.#scanScope(resource, tenant, summary)
      let left = [...ids]
      while (left.length > 0) {
        await this.#apply.applyKeys(resource, tenant, left, summary)
        left = await this.#apply.differing(resource, tenant, left)
        if (left.length === 0 || Date.now() >= deadline) break
        await this.#pause(20)
      }
      differing += left.length
    }
    return differing
  }

  async #tenants(): Promise<string[]> {
    return this.#adapters[this.source].listTenants()
  }

  /**
   * Makes one tenant's objects of one type equal on the target: the target's objects are
   * listed, then the source's page by page (each page checkpointed once applied), then what the
   * target has and the source does not is deleted.
   */
  async #scanScope(resource: Resource, tenant: string, summary: PassSummary, until: () => boolean = () => false): Promise<number | undefined> {
    const { state } = this.#o
    const scope = `${resource.type}\u0000${tenant}`
    const targetIndex = new Map<string, unknown>()
    for await (const page of this.#pages(this.target, resource, tenant, undefined)) {
      for (const item of page.items) targetIndex.set(item.id, item.doc)
    }
    let cursor = await state.getCursor(scope)
    const resumed = cursor !== undefined
    const seen = new Set<string>()
    let listedFrom = Date.now()
    let objects = 0
    for await (const page of this.#pages(this.source, resource, tenant, cursor)) {
      // Ended early, the scope resumes from its checkpoint; deletions need the whole listing.
      if (until()) return undefined
      await this.#apply.applyPage(resource, tenant, page.items, page.readAt, targetIndex, summary)
      for (const item of page.items) seen.add(item.id)
      objects += page.items.length
      await this.#fence()
      await state.setCursor(scope, page.next)
    }
    if (resumed) {
      // Deletions need every source id; the pages before the checkpoint are listed again (not applied).
      listedFrom = Date.now()
      for await (const page of this.#pages(this.source, resource, tenant, undefined)) for (const item of page.items) seen.add(item.id)
    }
    const gone = [...targetIndex.keys()].filter(id => !seen.has(id))
    if (gone.length > 0) await this.#apply.applyPage(resource, tenant, gone.map(id => ({ id, doc: undefined })), listedFrom, targetIndex, summary)
    return objects
  }

  async *#pages(side: Side, resource: Resource, tenant: string, cursor: string | undefined) {
    let next = cursor
    do {
      const readAt = Date.now()
      const page = await this.#adapters[side].listPage(resource, tenant, next, this.#policy.sync.batchSize)
      yield { ...page, readAt }
      next = page.next
    } while (next !== undefined)
  }

  /** Fencing: a process that lost the lease must not write another byte. */
  async #fence(): Promise<void> {
    if (this.#lease === undefined || !(await this.#o.state.holdsLease(this.#lease))) throw new LeaseLostError()
  }

  /** Waits `ms`, waking early when stopping (or when `until` turns true). */
  async #pause(ms: number, until: () => boolean = () => false): Promise<void> {
    const deadline = Date.now() + ms
    while (!this.#stopping && !until() && Date.now() < deadline) await new Promise(r => setTimeout(r, Math.min(100, deadline - Date.now())))
  }

  /**
   * One complete pass for `dualread sync --once`: the change stream, every scope, the change
   * stream again, then a read-only check that both sides are equal.
   */
  async runOnce(waitForLeaseMs: number): Promise<PassSummary & { differences: number }> {
    const deadline = Date.now() + waitForLeaseMs
    while (!(this.#lease = await this.#o.state.acquireLease(this.owner, this.#policy.sync.leaseTtlMs))) {
      if (Date.now() > deadline) throw new Error('another sync process holds the lease; --once did not run')
      await this.#pause(500)
    }
    const lease = this.#lease
    const summary = emptySummary()
    // Renewed like a running sync's: a pass over a large store outlasts one lease period.
    const renew = setInterval(() => void this.#renew(), this.#policy.sync.leaseTtlMs / 3)
    try {
      while (await this.drainChanges(summary) > 0) { /* until the stream is empty */ }
      await this.pass(summary)
      while (await this.drainChanges(summary) > 0) { /* writes during the pass */ }
      return { ...summary, differences: await this.differences() }
    } finally {
      clearInterval(renew)
      await this.#o.state.releaseLease(lease) // a no-op if it was lost meanwhile
      this.#lease = undefined
    }
  }

  /** How many keys differ between the two sides now (read-only). */
  async differences(): Promise<number> {
    let count = 0
    const tenants = await this.#tenants()
    for (const resource of this.#policy.resources) {
      for (const tenant of isTenantScoped(resource, this.#policy) ? tenants : ['']) {
        const [a, b] = await Promise.all([this.#hashes(this.source, resource, tenant), this.#hashes(this.target, resource, tenant)])
        for (const [id, hash] of a) if (b.get(id) !== hash) count++
        for (const id of b.keys()) if (!a.has(id)) count++
      }
    }
    return count
  }

  async #hashes(side: Side, resource: Resource, tenant: string): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for await (const page of this.#pages(side, resource, tenant, undefined)) for (const item of page.items) out.set(item.id, this.#apply.hash(resource.type, item.doc))
    return out
  }

  /** Finishes the batch in hand (its checkpoint included), releases the lease, closes connections. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.resume()
    await this.#running
    if (this.#lease) await this.#o.state.releaseLease(this.#lease).catch(() => undefined)
    this.#lease = undefined
    await Promise.all([this.#adapters.old.close(), this.#adapters.new.close()])
  }
}

