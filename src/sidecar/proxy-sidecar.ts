// `dualread proxy` as a unit: the policy source, the read proxy, the admin server and shared
// state wired together, with a clean drain on stop. Also what the demo and the tests start.
import type { ReferenceCacheOptions } from '../parity/reference-cache.ts'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import { createAdminServer } from '../admin/server.ts'
import { describeRejection, PolicySource, type LoadedPolicy } from '../policy/source.ts'
import { ReadProxy, type ProxyGeneration, type WriteEvent } from '../proxy/server.ts'
import { WriteAnnouncer } from '../proxy/announcer.ts'
import { followFleetWrites } from '../proxy/fleet-pins.ts'
import { FileAuthority, WriteGate, type WriteRouter } from '../cutover/write-gate.ts'
import { cutoverReport, requestCutover } from '../cutover/request.ts'
import { openStateStore } from '../state/open.ts'
import type { ProxyState } from '../state/state-store.ts'
import { ReadYourWrites } from '../proxy/read-your-writes.ts'
import { UpstreamPair } from '../proxy/upstream.ts'
import { EvidenceRecorder } from '../evidence/recorder.ts'
import { MemoryEvidenceStore } from '../evidence/memory-store.ts'
import { RedisEvidenceStore } from '../evidence/redis-store.ts'
import { DriftGate } from '../parity/gate.ts'
import { fleetReadiness } from '../evidence/readiness.ts'
import { ParityRecorder } from '../parity/report.ts'
import { ShadowReader } from '../parity/shadow.ts'
import { ComparePool } from '../parity/compare-pool.ts'
import { MemoryOverrideStore, RedisOverrideStore, type OverrideChange, type OverrideStore } from '../rollback/overrides.ts'
import { connectRedis, keyPrefix, redisReady, sharedRedisUrl } from '../state/redis/connect.ts'
import { ConditionLog } from '../telemetry/condition-log.ts'
import { MemoryAuditLog } from '../state/audit-log.ts'
import { AuditRecorder } from '../state/audit-recorder.ts'
import { migrationPhase } from '../policy/migration-phase.ts'
import { followPolicies } from './audit-policies.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Side } from '../policy/schema.ts'
import { Metrics } from '../telemetry/metrics.ts'
import { restartNeeded, type RestartNeeded } from './restart-needed.ts'
import { startOrTearDown, type Teardown } from './teardown.ts'
import { syncStatus as syncStatusSchema, type ProxyStatus, type SliceVerdict, type SyncStatus } from '../status/schema.ts'
import { signalSeries } from '../evidence/series.ts'
import { HOUR_MS } from '../evidence/store.ts'

export const DEFAULT_STATE_DIR = '.dualread'
const DRAIN_TIMEOUT_MS = 10_000
const DRAIN_POLL_MS = 50
const READY_CACHE_MS = 1000
const PROBE_TIMEOUT_MS = 1000

export interface ProxySidecarOptions {
  policyFile: string
  /** HOST:PORT; overrides the policy's `listen`. Port 0 picks a free port. */
  listen?: string
  /** HOST:PORT; overrides the policy's `admin`. */
  admin?: string
  stateDir: string
  adminToken?: string
  /** Shared state for rollback overrides; default REDIS_URL, then a redis:// sync.state. Null keeps them in memory. */
  redisUrl?: string | null
  log: Logger
  policyCheckIntervalMs?: number
  /** How long SIGTERM waits for requests in flight before closing their connections. */
  drainTimeoutMs?: number
  /**
   * Where writes through the proxy are announced to the sync loop (and its acknowledgements come
   * from). Embedded mode passes the store it shares with its sync loop; otherwise, with sync
   * enabled and Redis configured, the proxy opens the Redis store itself.
   */
  changeStore?: ProxyState
  /** The presence cache of referenced objects (src/parity/reference-cache.ts): its size, age and clock. */
  referenceCache?: ReferenceCacheOptions
}

export interface ProxySidecar {
  proxyUrl: string
  adminUrl: string
  stop(): Promise<void>
}

export function splitHostPort(value: string): { host: string, port: number } {
  const i = value.lastIndexOf(':')
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(value.slice(i + 1)) }
}

/**
 * Starts the sidecar and resolves once both ports listen.
 * @example
 * const sidecar = await startProxySidecar({ policyFile: 'policies/reference.yaml', stateDir: '.dualread', log: createLogger() })
 * await sidecar.stop()
 */
export function startProxySidecar(o: ProxySidecarOptions): Promise<ProxySidecar> {
  // A start that fails half way closes what it opened: a process that says it failed serves nothing.
  return startOrTearDown(o.log, opened => start(o, opened))
}

async function start(o: ProxySidecarOptions, opened: Teardown): Promise<ProxySidecar> {
  const { log } = o
  const metrics = new Metrics()
  opened.add('metrics', () => metrics.shutdown())
  const source = new PolicySource({ file: o.policyFile, stateDir: o.stateDir, log, metrics, checkIntervalMs: o.policyCheckIntervalMs })
  const first = await source.start()
  opened.add('the policy watch', () => source.close())
  const recordPolicies = followPolicies(source)
  const policy = first.compiled.policy
  // This process in the cutover registry and the audit log.
  const replica = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

  let generation: ProxyGeneration = {
    compiled: first.compiled,
    generation: first.generation,
    upstreams: new UpstreamPair(policy.upstreams, policy.breaker, metrics, log),
  }
  opened.add('the upstream pools', () => generation.upstreams.close())
  let restart: RestartNeeded | undefined
  source.on('applied', (loaded: LoadedPolicy) => {
    const p = loaded.compiled.policy
    restart = restartNeeded(policy, p, { listen: o.listen, admin: o.admin })
    if (restart) log.warn({ keys: restart.keys, bound: restart.bound, wanted: restart.wanted, generation: loaded.generation }, `restart needed: ${restart.reason}`)
    const previous = generation.upstreams
    const reuse = UpstreamPair.keyOf(p.upstreams, p.breaker) === previous.key
    generation = {
      compiled: loaded.compiled,
      generation: loaded.generation,
      upstreams: reuse ? previous : new UpstreamPair(p.upstreams, p.breaker, metrics, log),
    }
    if (!reuse) {
      // Requests that started on the old generation may still be about to use its pools.
      const grace = 2 * Math.max(previous.old.config.timeoutMs, previous.new.config.timeoutMs)
      setTimeout(() => void previous.close(), grace).unref()
    }
  })

  const redisUrl = o.redisUrl === null ? undefined : o.redisUrl ?? sharedRedisUrl(policy.sync.state)
  let redis: Redis | undefined
  let overrides: OverrideStore
  if (redisUrl) {
    redis = connectRedis(redisUrl, log)
    opened.add('redis', () => redis!.disconnect())
    const store = new RedisOverrideStore(redis, keyPrefix(policy.migration), log)
    // If Redis is not up yet, start anyway: the poll picks the overrides up once it is.
    if (await redisReady(redis)) await store.refresh()
    overrides = store
  } else {
    overrides = new MemoryOverrideStore()
  }
  opened.add('the rollback overrides', () => overrides.close())

  const readYourWrites = new ReadYourWrites()
  let changeStore = o.changeStore
  const ownsChangeStore = !changeStore && policy.sync.enabled && redisUrl !== undefined
  if (ownsChangeStore) {
    changeStore = await openStateStore(redisUrl!, policy.migration, log)
    opened.add('the change store', () => changeStore!.close())
  }
  const stopAcks = changeStore ? await changeStore.signals.onApplied((type, tenant, upTo) => readYourWrites.acknowledge(tenant, type, upTo)) : undefined
  if (stopAcks) opened.add('the acknowledgement feed', stopAcks)
  // An unreachable change stream is logged when it starts, summarized, and when it recovers: never once per write.
  const changeStream = new ConditionLog(log)
  // Shared with the migration when there is shared state; otherwise this process's own, so /history still answers.
  const audit = changeStore?.audit ?? new MemoryAuditLog()
  const recorder = new AuditRecorder({ audit, role: 'proxy', replica, conditions: changeStream })
  recordPolicies(recorder)
  const announcer = changeStore ? new WriteAnnouncer(changeStore.changes, changeStream) : undefined
  // A write through this replica pins its slice on every replica sharing the state.
  const pins = changeStore ? await followFleetWrites(changeStore.signals, readYourWrites, () => generation.compiled.policy.readYourWrites.windowMs, changeStream) : undefined
  if (pins) opened.add('the fleet\'s writes feed', pins.stop)
  const onWrite = announcer && pins ? (write: WriteEvent) => {
    pins.share(write)
    return announcer.announce(write)
  } : undefined
  // With state shared with a sync, writes follow the fleet's effective authority (and its cutovers).
  let writes: WriteRouter = new FileAuthority(() => generation.compiled.policy.authority)
  if (changeStore) {
    const gate = new WriteGate({
      store: changeStore.cutover, replica,
      config: () => generation.compiled.policy.cutover, fileAuthority: () => generation.compiled.policy.authority, log, metrics,
    })
    await gate.start()
    opened.add('the write gate', () => gate.close())
    writes = gate
  }
  const parityRecorder = new ParityRecorder(metrics)
  // The fleet's evidence: shared through Redis when there is one, this process's own otherwise.
  const evidenceStore = redis ? new RedisEvidenceStore(redis, keyPrefix(policy.migration)) : new MemoryEvidenceStore()
  const currentPolicy = () => generation.compiled.policy
  const gate = new DriftGate({
    overrides, metrics, log, evidence: () => evidence.snapshot,
    onTrip: (rule, reason) => recorder.record('gate-tripped', `rule ${rule}`, reason, { rule }),
  })
  // Judged once per evidence tick, for the gate gauges: /metrics reads these, the read path never waits for them.
  let judged: SliceVerdict[] = []
  metrics.observeGateVerdicts(() => judged)
  const onRefreshed = () => {
    judged = [...fleetReadiness(currentPolicy(), evidence.snapshot, Date.now()).values()].flatMap(r => r.slices)
    return gate.evaluate(currentPolicy())
  }
  const evidence = new EvidenceRecorder({ store: evidenceStore, replica, log, policy: currentPolicy, onRefreshed })
  evidence.start()
  opened.add('the evidence recorder', () => evidence.close())
  // Shadow pairs are decoded, parsed and compared in worker threads, never on the clients' event loop.
  const comparer = new ComparePool({
    workers: () => generation.compiled.policy.shadow.workers,
    inlineBytes: () => generation.compiled.policy.shadow.inlineCompareBytes,
    log,
  })
  opened.add('the comparison workers', () => comparer.close())
  const shadow = new ShadowReader({ ids: changeStore?.ids, metrics, log, recorder: parityRecorder, gate, evidence, comparer, ...(o.referenceCache ? { referenceCache: o.referenceCache } : {}) })
  const proxy = new ReadProxy({ policy: { get current() { return generation } }, overrides, readYourWrites, shadow, metrics, log, writes, ...(onWrite ? { onWrite } : {}) })
  opened.add('the shadow reader', () => proxy.close())
  const server = createServer({ keepAliveTimeout: 65_000 }, proxy.handle)
  // Upgraded (websocket) connections leave the HTTP server's bookkeeping; closed on stop.
  const upgraded = new Set<import('node:stream').Duplex>()
  server.on('upgrade', (req, socket: import('node:stream').Duplex, head: Buffer) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
    proxy.handleUpgrade(req, socket, head)
  })
  let inFlight = 0
  server.on('request', (_req, res) => {
    inFlight++
    res.once('close', () => inFlight--)
  })

  let readyCache: { at: number, value: { ready: boolean, detail: Record<string, unknown> } } | undefined
  const admin = createAdminServer(splitHostPort(o.admin ?? policy.admin).host, {
    metrics, log, token: o.adminToken,
    handlers: {
      async ready() {
        if (readyCache && Date.now() - readyCache.at < READY_CACHE_MS) return readyCache.value
        const [oldUp, newUp] = await Promise.all([generation.upstreams.old.probe(PROBE_TIMEOUT_MS), generation.upstreams.new.probe(PROBE_TIMEOUT_MS)])
        const value = { ready: oldUp || newUp, detail: { policyGeneration: generation.generation, upstreams: { old: oldUp, new: newUp } } }
        readyCache = { at: Date.now(), value }
        return value
      },
      status: async () => ({
        ...status(source, generation, overrides, readYourWrites, parityRecorder, shadow, restart, writes, evidence, evidenceStore.kind),
        traffic: metrics.trafficByRule(),
        sync: changeStore ? await syncStatus(changeStore) : { unavailable: 'this proxy shares no state with a sync process (embedded mode, or Redis with sync enabled, shares it)' },
      }),
      history: async limit => ({ backend: changeStore ? changeStore.kind : 'memory', entries: await audit.recent(limit) }),
      async evidence(step) {
        const now = Date.now()
        const from = now - currentPolicy().evidence.retentionDays * 24 * HOUR_MS
        const hours = await evidenceStore.hours(from, now + HOUR_MS)
        return { store: evidenceStore.kind, step, from: new Date(from).toISOString(), to: new Date(now).toISOString(), slices: signalSeries(hours, step) }
      },
      ...(changeStore ? {
        cutover: () => cutoverReport(changeStore!.cutover, generation.compiled.policy.authority),
        requestCutover: (to: Side) => requestCutover(changeStore!.cutover, to, generation.compiled.policy.authority),
      } : {}),
      async rollback(change: OverrideChange) {
        if (change.rule && !generation.compiled.policy.rules.some(r => r.name === change.rule)) {
          return { status: 400, error: 'bad_request', detail: `no rule named "${change.rule}"; rules: ${generation.compiled.policy.rules.map(r => r.name).join(', ')}` }
        }
        try {
          await overrides.apply(change)
        } catch (err) {
          // Not the request's fault: the shared store is down, and retrying later can succeed.
          return { status: 503, error: 'unavailable', detail: `cannot store the override: ${(err as Error).message}; retry once Redis answers` }
        }
        log.warn({ change }, change.clear ? 'rollback overrides cleared' : `rollback override set: reads of ${change.all ? 'every rule' : `rule "${change.rule}"`} go to the authority`)
        // After the override is stored, and never in its way: an audit log that cannot be written is only logged.
        if (change.clear) recorder.record('rollback-cleared', 'every override', change.reason, { clear: true })
        else recorder.record('rollback-set', change.all ? 'all rules' : `rule ${change.rule}`, change.reason, { rule: change.all ? '*' : change.rule! })
        return undefined
      },
    },
  })

  const proxyAddress = await listen(server, o.listen ?? policy.listen)
  opened.add('the proxy port', () => new Promise<void>(resolve => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const adminAddress = await listen(admin, o.admin ?? policy.admin)
  log.info({ proxy: proxyAddress, admin: adminAddress, generation: first.generation, origin: first.origin }, 'dualread proxy listening')

  let stopping: Promise<void> | undefined
  async function drain(): Promise<void> {
    const closed = new Promise<void>(resolve => server.close(() => resolve()))
    const deadline = Date.now() + (o.drainTimeoutMs ?? DRAIN_TIMEOUT_MS)
    while (inFlight > 0 && Date.now() < deadline) {
      server.closeIdleConnections()
      await new Promise(r => setTimeout(r, DRAIN_POLL_MS))
    }
    if (inFlight > 0) log.warn({ inFlight }, 'drain timed out; closing the remaining connections')
    server.closeAllConnections()
    for (const socket of upgraded) socket.destroy()
    await closed
    admin.closeAllConnections()
    await new Promise<void>(resolve => admin.close(() => resolve()))
    await source.close()
    await writes.close()
    announcer?.close()
    proxy.close()
    shadow.close()
    await comparer.close()
    // Its last counts go to the store before the connection closes.
    await evidence.close()
    await overrides.close()
    await stopAcks?.()
    await pins?.stop()
    await recorder.flush()
    changeStream.close()
    if (ownsChangeStore) await changeStore!.close()
    redis?.disconnect()
    await generation.upstreams.close()
    await metrics.shutdown()
    log.info('dualread proxy stopped')
  }

  return {
    proxyUrl: `http://${proxyAddress}`,
    adminUrl: `http://${adminAddress}`,
    stop: () => (stopping ??= drain()),
  }
}


/** Listens on HOST:PORT; resolves to the address actually bound (port 0 picks one). */
export function listen(server: Server, hostPort: string): Promise<string> {
  const { host, port } = splitHostPort(hostPort)
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const a = server.address() as AddressInfo
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)
    })
  })
}

function status(source: PolicySource, gen: ProxyGeneration, overrides: OverrideStore, ryw: ReadYourWrites, recorder: ParityRecorder, shadow: ShadowReader, restart: RestartNeeded | undefined, writes: WriteRouter, evidence: EvidenceRecorder, evidenceKind: 'redis' | 'memory'): Omit<ProxyStatus, 'traffic' | 'sync'> {
  const loaded = source.current
  const { policy, hash } = gen.compiled
  const active = overrides.current
  const fleet = evidence.snapshot
  const readiness = fleetReadiness(policy, fleet, Date.now())
  // This replica's record, with each slice's readiness from the fleet's numbers.
  const parity = recorder.report(policy).map(slice => {
    const verdict = readiness.get(slice.rule)?.slices.find(v => v.resourceType === slice.resourceType)
    return { ...slice, readiness: verdict?.readiness ?? 'inconclusive', readinessReason: verdict?.reason ?? 'no comparison in the window across the fleet' }
  })
  return {
    role: 'proxy',
    policy: {
      file: source.file,
      generation: loaded.generation,
      hash,
      loadedAt: loaded.loadedAt.toISOString(),
      origin: loaded.origin,
      degraded: loaded.origin === 'persisted',
      lastError: describeRejection(source.lastError),
      restartNeeded: restart ?? null,
    },
    migration: { name: policy.migration, ...migrationPhase(policy, writes.authority()), decommission: evidence.decommission(policy) },
    evidence: {
      store: evidenceKind, replicas: fleet.replicas, at: fleet.at ? new Date(fleet.at).toISOString() : null, unavailable: fleet.unavailable ?? null,
      slices: [...readiness.values()].flatMap(r => r.slices),
    },
    authority: writes.authority(),
    writes: writes.describe(),
    upstreams: { old: describeUpstream(gen, 'old'), new: describeUpstream(gen, 'new') },
    overrides: { ...overrides.describe(), entries: overrides.entries() },
    rules: policy.rules.map(r => ({
      name: r.name, match: r.match, primary: r.primary, newPercent: r.newPercent, shadowPercent: r.shadowPercent, fallback: r.fallback,
      rolledBack: active.all || active.rules.has(r.name),
      readiness: readiness.get(r.name)!.readiness, readinessReason: readiness.get(r.name)!.readinessReason,
    })),
    parity,
    shadow: { inFlight: shadow.inFlight, maxInFlight: policy.shadow.maxInFlight },
    readYourWrites: { windowMs: policy.readYourWrites.windowMs, trackedSlices: ryw.size },
  }
}

function describeUpstream(gen: ProxyGeneration, side: Side): ProxyStatus['upstreams']['old'] {
  const u = gen.upstreams.get(side)
  // Header names and where their values come from; never the values.
  return { url: u.config.url, breakers: Object.fromEntries(u.breakerStates().map(b => [b.role, b.state])), headers: u.credentials.sources(), connections: u.connections() }
}

/**
 * What the sync leader last published through the shared state; why not, when there is nothing
 * to show, or when the leader runs another version of dualread (during a rolling upgrade).
 */
async function syncStatus(store: ProxyState): Promise<SyncStatus | { unavailable: string }> {
  let text: string | undefined
  try {
    text = await store.signals.readStatus()
  } catch (err) {
    return { unavailable: (err as Error).message }
  }
  if (!text) return { unavailable: 'no sync process has published its status lately: is `dualread sync` running?' }
  const parsed = syncStatusSchema.safeParse(JSON.parse(text))
  return parsed.success ? parsed.data : { unavailable: `the sync leader publishes a status of another version of dualread (${parsed.error.issues.slice(0, 3).map(i => i.path.join('.')).join(', ')} do not fit); upgrade the sync and the proxies to the same version` }
}

