// `dualread sync` as a unit: the policy (followed across reloads), the state store, the sync loop,
// the write-cutover coordinator (the leader runs it; a switch reverses the direction) and an
// admin port for health, metrics and status.
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import { hostname } from 'node:os'
import { createAdminServer } from '../admin/server.ts'
import { CutoverCoordinator } from '../cutover/coordinator.ts'
import { cutoverReport, requestCutover } from '../cutover/request.ts'
import type { Side } from '../policy/schema.ts'
import { describeRejection, PolicySource, type LoadedPolicy } from '../policy/source.ts'
import { sharedRedisUrl } from '../state/redis/connect.ts'
import { SyncLoop, syncDirection, type PassSummary } from '../sync/loop.ts'
import { openStateStore } from '../state/open.ts'
import { SyncProgress } from '../sync/progress.ts'
import type { StateStore } from '../state/state-store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { Metrics } from '../telemetry/metrics.ts'
import { ConditionLog } from '../telemetry/condition-log.ts'
import { AuditRecorder } from '../state/audit-recorder.ts'
import { migrationPhase } from '../policy/migration-phase.ts'
import { followPolicies } from './audit-policies.ts'
import { listen, splitHostPort } from './proxy-sidecar.ts'
import { startOrTearDown, type Teardown } from './teardown.ts'
import type { SyncStatus } from '../status/schema.ts'
import type { DanglingReport } from '../sync/dangling.ts'

export const DEFAULT_SYNC_ADMIN = '127.0.0.1:9091'
const RECENT_CONFLICTS = 20
/** How often the leader publishes its status for the proxies' /status and /ui; it expires after three misses. */
export const STATUS_PUBLISH_MS = 2000
/** How long --once waits for a running sync process to release the lease. */
const ONCE_LEASE_WAIT_MS = 30_000
/** How often the leader checks whether a cutover is due, and every process whether the authority moved. */
const CUTOVER_TICK_MS = 200

export interface SyncProcessOptions {
  policyFile: string
  stateDir: string
  log: Logger
  adminToken?: string
  /** A store shared with an in-process proxy (embedded mode); otherwise opened from the policy. */
  state?: StateStore
  /** Where to draw progress bars (a terminal); progress is logged without one. */
  bars?: NodeJS.WritableStream | undefined
  policyCheckIntervalMs?: number
  /** How often the leader publishes its status to the state store (default STATUS_PUBLISH_MS). */
  statusPublishMs?: number
}

export interface SyncProcess {
  adminUrl: string
  stop(): Promise<void>
}

/** The write authority in force for the fleet; the policy's when the store cannot say (the loop then waits to lead). */
async function effectiveAuthority(state: StateStore, policy: LoadedPolicy['compiled']['policy']): Promise<Side> {
  try {
    return (await state.cutover.read() ?? await state.cutover.initialize(policy.authority)).authority
  } catch {
    return policy.authority
  }
}

async function openState(o: SyncProcessOptions, loaded: LoadedPolicy): Promise<{ state: StateStore, owned: boolean }> {
  if (o.state) return { state: o.state, owned: false }
  const { policy } = loaded.compiled
  const url = sharedRedisUrl(policy.sync.state) ?? policy.sync.state
  return { state: await openStateStore(url, policy.migration, o.log), owned: true }
}

/** Runs the sync loop until stop(), following policy reloads. */
export function startSyncProcess(o: SyncProcessOptions & { admin: string }): Promise<SyncProcess> {
  // A start that fails half way closes what it opened: a process that says it failed holds no lease.
  return startOrTearDown(o.log, opened => start(o, opened))
}

async function start(o: SyncProcessOptions & { admin: string }, opened: Teardown): Promise<SyncProcess> {
  const { log } = o
  const metrics = new Metrics()
  opened.add('metrics', () => metrics.shutdown())
  const source = new PolicySource({ file: o.policyFile, stateDir: o.stateDir, log, metrics, checkIntervalMs: o.policyCheckIntervalMs })
  const first = await source.start()
  opened.add('the policy watch', () => source.close())
  const recordPolicies = followPolicies(source)
  // An admin address that is refused fails the start before Redis is even opened; the handlers
  // read the state store and the loop only when asked, once the process has started.
  const status = async (): Promise<SyncStatus> => ({
    role: 'sync', owner: loop.owner, leader: loop.lease !== undefined, fencingToken: loop.lease?.token ?? null,
    direction: { from: loop.source, to: loop.target }, state: state.kind,
    migration: { name: source.current.compiled.policy.migration, ...migrationPhase(source.current.compiled.policy, loop.authority) },
    cutover: { ...coordinator.describe(), state: await state.cutover.read().catch((err: Error) => `unavailable: ${err.message}`) },
    totals: loop.totals, progress: progress.snapshot(), lagSeconds: Object.fromEntries(loop.lag().map(l => [l.resourceType, l.seconds])),
    conflicts: await state.conflicts.recent(RECENT_CONFLICTS).catch((err: Error) => `unavailable: ${err.message}`),
    policy: { file: source.file, generation: source.current.generation, hash: source.current.compiled.hash, lastError: describeRejection(source.lastError) },
    at: new Date().toISOString(),
  })
  const admin: Server = createAdminServer(splitHostPort(o.admin).host, {
    metrics, log, token: o.adminToken,
    handlers: {
      ready: async () => ({ ready: true, detail: { leader: loop.lease !== undefined } }),
      status,
      history: async limit => ({ backend: state.kind, entries: await state.audit.recent(limit) }),
      cutover: () => cutoverReport(state.cutover, source.current.compiled.policy.authority),
      requestCutover: (to: Side) => requestCutover(state.cutover, to, source.current.compiled.policy.authority),
    },
  })
  const { state, owned } = await openState(o, first)
  if (owned) opened.add('the state store', () => state.close())
  const conditions = new ConditionLog(log)
  const recorder = new AuditRecorder({ audit: state.audit, role: 'sync', replica: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, conditions })
  opened.add('the audit log', async () => {
    await recorder.flush()
    conditions.close()
  })
  recordPolicies(recorder)
  const progress = new SyncProgress({ log, metrics, bars: o.bars })
  opened.add('the progress display', () => progress.stop())
  const build = (loaded: LoadedPolicy, authority: Side) => new SyncLoop({ compiled: loaded.compiled, state, log, metrics, progress, authority })
  let loop = build(first, await effectiveAuthority(state, first.compiled.policy))
  metrics.observeSyncLeader(() => loop.lease !== undefined)
  const coordinator = new CutoverCoordinator({
    state, log, metrics, audit: recorder,
    policy: () => source.current.compiled.policy,
    loop: () => loop,
    onSwitched: switched => rebuild(`write authority switched to ${switched.authority}`, switched.authority),
  })

  const adminAddress = await listen(admin, o.admin)

  // Started: from here on the loop may take the lease.
  void loop.start()
  // A reload, or a switch of the write authority, finishes the batch in hand and starts over. The
  // new loop is in place at once (so a switch is followed once), and starts once the old one stopped.
  let rebuilding = Promise.resolve()
  const rebuild = (why: string, authority: Side) => {
    const previous = loop
    loop = build(source.current, authority)
    const { source: from, target: to } = syncDirection(source.current.compiled.policy, authority)
    log.info({ from, to }, `${why}; the sync restarts with it`)
    rebuilding = rebuilding.then(() => previous.stop()).then(() => { void loop.start() })
  }
  source.on('applied', () => rebuild('policy reloaded', loop.authority))
  // The leader runs cutovers; every process follows a switch made by whichever process led it.
  // One check at a time, and stop() waits for the last: none can start a loop after it.
  let checking = Promise.resolve()
  const check = async () => {
    // A state store that lost the state (a Redis restarted without persistence) gets this loop's authority back, not the file's.
    const inForce = (await state.cutover.read() ?? await state.cutover.initialize(loop.authority)).authority
    if (inForce !== loop.authority) rebuild(`the write authority in force is ${inForce}`, inForce)
    else await coordinator.tick()
  }
  const cutoverTimer = setInterval(() => {
    checking = checking.then(check).catch((err: Error) => log.warn({ err: { message: err.message } }, 'cutover check failed; retrying'))
  }, CUTOVER_TICK_MS)
  // Only the leader publishes: a standby's status would hide the one doing the work.
  const publishEveryMs = o.statusPublishMs ?? STATUS_PUBLISH_MS
  const publisher = setInterval(() => {
    if (!loop.lease) return
    void status().then(s => state.signals.publishStatus(JSON.stringify(s), 3 * publishEveryMs))
      .catch((err: Error) => log.debug({ err: { message: err.message } }, 'cannot publish the sync status'))
  }, publishEveryMs)
  log.info({ admin: adminAddress, from: loop.source, to: loop.target, state: state.kind }, 'dualread sync started')

  let stopping: Promise<void> | undefined
  return {
    adminUrl: `http://${adminAddress}`,
    stop: () => (stopping ??= (async () => {
      clearInterval(publisher)
      clearInterval(cutoverTimer)
      await checking
      await source.close()
      await coordinator.close()
      await rebuilding
      await loop.stop()
      await recorder.flush()
      conditions.close()
      progress.stop()
      admin.closeAllConnections()
      await new Promise<void>(resolve => admin.close(() => resolve()))
      if (owned) await state.close()
      await metrics.shutdown()
      log.info('dualread sync stopped; checkpoints saved')
    })()),
  }
}

export interface OnceResult extends PassSummary {
  differences: number
  /** Objects, on either side, naming one their store does not have: not converged while there are any. */
  dangling: DanglingReport
  converged: boolean
}

/** One full reconcile pass (`dualread sync --once`). */
export async function syncOnce(o: SyncProcessOptions): Promise<OnceResult> {
  const metrics = new Metrics()
  const source = new PolicySource({ file: o.policyFile, stateDir: o.stateDir, log: o.log, metrics })
  const loaded = await source.start()
  await source.close()
  const { state, owned } = await openState(o, loaded)
  const progress = new SyncProgress({ log: o.log, metrics, bars: o.bars })
  const authority = await effectiveAuthority(state, loaded.compiled.policy)
  const loop = new SyncLoop({ compiled: loaded.compiled, state, log: o.log, metrics, progress, authority })
  // The result goes into the migration's record: the last verification is evidence for sign-off.
  const conditions = new ConditionLog(o.log)
  const recorder = new AuditRecorder({ audit: state.audit, role: 'sync', replica: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, conditions })
  try {
    const summary = await loop.runOnce(ONCE_LEASE_WAIT_MS)
    const dangling = summary.dangling.count
    const converged = summary.differences === 0 && summary.errors === 0 && dangling === 0
    recorder.record('verification', `sync --once ${loop.source} → ${loop.target}`,
      converged ? 'converged: both stores hold the same objects' : `NOT converged: ${summary.differences} key(s) differ, ${summary.errors} error(s), ${dangling} dangling reference(s)`,
      { converged, differences: summary.differences, errors: summary.errors, dangling, scanned: summary.scanned, upserted: summary.upserted, deleted: summary.deleted, conflicts: summary.conflicts })
    await recorder.flush()
    return { ...summary, converged }
  } finally {
    conditions.close()
    progress.stop()
    await loop.stop()
    if (owned) await state.close()
    await metrics.shutdown()
  }
}
