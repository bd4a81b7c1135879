// Shadow reads: after the client has its answer, the same read goes to the other side, both
// answers are compared, a version difference is rechecked (lag, not drift), now and then the
// serving side is read twice (noise), and the outcome feeds the parity record and the gate.
// Bounded: sampled, at most shadow.maxInFlight at once, bodies up to maxBodyBytes, its own
// breaker per upstream and its own timeout. What is not compared is counted, never queued.
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { QUEUE_TIMEOUT } from '../connections/budget.ts'
import { otherSide, type Reason } from '../policy/choose.ts'
import type { CompiledPolicy, ResourceKind } from '../policy/compile.ts'
import type { Rule, Side } from '../policy/schema.ts'
import type { BodySink, UpstreamPair, UpstreamRequest } from '../proxy/upstream.ts'
import { ConditionLog, type Condition } from '../telemetry/condition-log.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { endShadowSpan, startShadowSpan, traceComparison, type Traced } from '../telemetry/spans.ts'
import type { IdMap } from '../state/id-map.ts'
import { BodyCollector } from './capture.ts'
import { pathForSide } from './id-translation.ts'
import { compareAnswers, compilePlan, diffPointers, type BodyAnswer, type ComparePlan, type Comparison } from './compare.ts'
import { explainDiff } from './redact.ts'
import { ReferenceCheck, withLinks } from './reference-check.ts'
import type { ReferenceCacheOptions } from './reference-cache.ts'
import type { Presence } from './references.ts'
import type { Observation } from '../evidence/counts.ts'
import type { DriftGate } from './gate.ts'
import type { ParityRecorder, ParityResult } from './report.ts'

/** Every this many comparisons, the serving side is read a second time to tell noise from drift. */
export const NOISE_EVERY = 20

/**
 * Why a sampled read was not compared; `no_body`: a HEAD, or a GET both of whose answers had no
 * body (204, 304); `connections_busy`: no read connection to the shadow side was free (a shadow
 * read never waits for one, so it never takes one from a client's read).
 */
export type SkipReason = 'max_in_flight' | 'body_too_large' | 'breaker_open' | 'primary_failed' | 'no_body' | 'connections_busy'

export interface ShadowJob {
  compiled: CompiledPolicy
  upstreams: UpstreamPair
  rule: Rule
  resourceType: string
  kind: ResourceKind
  request: UpstreamRequest
  servedBy: Side
  reason: Reason
  primary: BodyAnswer
  /** How long the primary answer took, whole body included (ms). */
  primaryMs: number
  /** The read's tenant (path, then header): where the objects it references are looked up. */
  tenant?: string | undefined
}

/** Where each shadow pair is counted for the fleet (src/evidence/recorder.ts). */
export interface EvidenceSink {
  observe(o: Observation): void
}

export interface ShadowOptions {
  /** The sync's id map, for items whose stores assign their own ids; without it their ids are read as they are. */
  ids?: Pick<IdMap, 'otherId'> | undefined
  metrics: Metrics
  log: Logger
  recorder: ParityRecorder
  gate: DriftGate
  evidence: EvidenceSink
  /** The cache of referenced objects' presence (tests shorten or shrink it). */
  referenceCache?: ReferenceCacheOptions
}

export class ShadowReader {
  #o: ShadowOptions
  #inFlight = 0
  #compared = 0
  #plans = new WeakMap<CompiledPolicy, Map<string, ComparePlan>>()
  /** Systematic drift is a line with a sample, then a count per interval: not one line per read. */
  #drift: ConditionLog
  #references: ReferenceCheck

  constructor(options: ShadowOptions) {
    this.#o = options
    this.#drift = new ConditionLog(options.log)
    this.#references = new ReferenceCheck(options.metrics, options.referenceCache)
  }

  /** Logs the drift not summarized yet. */
  close(): void {
    this.#drift.close()
  }

  get inFlight(): number {
    return this.#inFlight
  }

  /**
   * Decides whether this read is shadowed: sampled by the rule's shadowPercent, then admitted
   * if a slot is free. An admitted read must end in `launch` or `skip`.
   */
  admit(rule: Rule, maxInFlight: number): boolean {
    if (rule.shadowPercent <= 0 || Math.random() * 100 >= rule.shadowPercent) return false
    if (this.#inFlight >= maxInFlight) {
      this.#o.metrics.shadowSkipped.add(1, { reason: 'max_in_flight' })
      return false
    }
    this.#inFlight++
    return true
  }

  /** Gives back an admitted slot without comparing; a primary that failed counts against its side. */
  skip(reason: SkipReason, failed?: { rule: string, resourceType: string, side: Side }): void {
    this.#inFlight--
    this.#o.metrics.shadowSkipped.add(1, { reason })
    if (failed) this.#o.evidence.observe({ rule: failed.rule, resourceType: failed.resourceType, failed: [failed.side] })
  }

  /** Runs the comparison for an admitted read in the background; it never rejects. */
  launch(job: ShadowJob): void {
    // A HEAD answer has no body: two of them always "match", which would only inflate the match rate.
    if (job.request.method === 'HEAD') return this.skip('no_body')
    // Traced: the shadow read is a child of the request's span, and every read it makes is its child.
    const traced = startShadowSpan(job.request.trace, otherSide(job.servedBy))
    void this.#run(traced ? { ...job, request: { ...job.request, trace: traced.context } } : job, traced)
      .catch((err: unknown) => { this.#o.log.error({ err }, 'shadow comparison failed unexpectedly'); return { skipped: 'failed' } })
      .then(outcome => endShadowSpan(traced, outcome)).finally(() => { this.#inFlight-- })
  }

  async #run(job: ShadowJob, traced: Traced | undefined): Promise<{ result: ParityResult } | { skipped: SkipReason }> {
    const { policy } = job.compiled
    const plan = this.#plan(job.compiled, job.resourceType)
    const shadowSide = otherSide(job.servedBy)
    const slice = { rule: job.rule.name, resourceType: job.resourceType }
    let shadow: TimedAnswer
    try {
      shadow = await this.#read(job, shadowSide)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'BODY_TOO_LARGE') return this.#skipped('body_too_large')
      // Every connection busy is this proxy's saturation, not a failure of the shadow side: no evidence against it.
      if (code === QUEUE_TIMEOUT) return this.#skipped('connections_busy')
      // A side whose shadow breaker is open is failing: that counts against it, like an error.
      this.#o.evidence.observe({ ...slice, failed: [shadowSide] })
      if (code === 'EOPENBREAKER') return this.#skipped('breaker_open')
      const failed: Comparison = { result: 'error', pointers: [], versionsDiffer: false, detail: `${shadowSide} shadow read failed: ${(err as Error).message}` }
      const status = job.servedBy === 'old' ? { old: job.primary.status, new: 0 } : { old: 0, new: job.primary.status }
      return this.#record(job, plan, 'error', failed, status)
    }
    // Nothing to compare (a 204 or a 304 on both sides); different statuses are still compared.
    if (job.primary.body.length === 0 && shadow.body.length === 0 && job.primary.status === shadow.status) return this.#skipped('no_body')
    const answers = (a: BodyAnswer, b: BodyAnswer): [BodyAnswer, BodyAnswer] => job.servedBy === 'old' ? [a, b] : [b, a]
    let [oldAnswer, newAnswer] = answers(job.primary, shadow)
    let comparison = traceComparison(traced, () => compareAnswers(plan, job.kind, oldAnswer, newAnswer))
    const latencyMs = job.servedBy === 'old' ? { old: job.primaryMs, new: shadow.ms } : { old: shadow.ms, new: job.primaryMs }
    // Only two real answers are a sample. A 5xx never gets here (a read answering 5xx fails, and is
    // counted above or as a failed primary); an answer that cannot be read counts against its side.
    if (comparison.result === 'error') this.#o.evidence.observe({ ...slice, failed: [comparison.failedSide!] })
    let result: ParityResult = comparison.result
    if (result !== 'match' && comparison.versionsDiffer && policy.shadow.recheckLagMs > 0) {
      await sleep(policy.shadow.recheckLagMs)
      try {
        ;[oldAnswer, newAnswer] = await Promise.all([this.#read(job, 'old'), this.#read(job, 'new')])
        const again = traceComparison(traced, () => compareAnswers(plan, job.kind, oldAnswer, newAnswer))
        if (again.result === 'match') result = 'lag'
        else { comparison = again; result = again.result }
      } catch (err) {
        this.#o.log.debug({ err }, 'lag recheck failed; keeping the first comparison')
      }
    }
    if (result !== 'error' && isSuccess(oldAnswer.status) && isSuccess(newAnswer.status)) {
      ;({ comparison, result } = await this.#checkLinks(job, oldAnswer, newAnswer, comparison, result))
    }
    if (result !== 'error') this.#o.evidence.observe({ ...slice, outcome: result, latencyMs })
    if (++this.#compared % NOISE_EVERY === 0) await this.#learnNoise(job, plan)
    return this.#record(job, plan, result, comparison, { old: oldAnswer.status, new: newAnswer.status })
  }

  /**
   * The comparison with its links looked up (see reference-check.ts). A broken link is looked up
   * again after recheckLagMs, like a version difference: healed by then (the sync had not copied
   * the parent yet), it was lag.
   */
  async #checkLinks(job: ShadowJob, oldAnswer: BodyAnswer, newAnswer: BodyAnswer, comparison: Comparison, result: ParityResult): Promise<{ comparison: Comparison, result: ParityResult }> {
    const input = {
      compiled: job.compiled, resourceType: job.resourceType, kind: job.kind, tenant: job.tenant, old: oldAnswer, new: newAnswer,
      store: { old: job.upstreams.get('old').config.url, new: job.upstreams.get('new').config.url },
    }
    const lookUp = (side: Side, path: string) => this.#exists(job, side, path)
    let links = await this.#references.check(input, lookUp)
    if (links === undefined) return { comparison, result }
    const { recheckLagMs } = job.compiled.policy.shadow
    const broken = links.broken.length > 0
    if (broken && recheckLagMs > 0) {
      const since = this.#references.now()
      await sleep(recheckLagMs)
      links = await this.#references.recheck(input, links, lookUp, since)
    }
    this.#references.count(job.resourceType, links)
    if (links.broken.length > 0) return { comparison: withLinks(comparison, links), result: 'critical' }
    return { comparison: withLinks(comparison, links), result: broken && result === 'match' ? 'lag' : result }
  }

  async #learnNoise(job: ShadowJob, plan: ComparePlan): Promise<void> {
    try {
      const again = await this.#read(job, job.servedBy)
      const differing = diffPointers(plan, job.kind, job.primary, again)
      // Compare pointers are relative to an item: a collection's `/items/*/etag` is `/etag`
      // (and an item that came and went between two reads is not a pointer to ignore).
      const within = `${plan.itemPattern}/`
      const pointers = job.kind !== 'collection' ? differing : differing.filter(p => p.startsWith(within)).map(p => p.slice(within.length - 1))
      if (pointers.length > 0) {
        this.#o.recorder.recordNoise(job.rule.name, job.resourceType, job.compiled.policy.gates.rollbackOnCriticalDrift.windowSec, pointers)
      }
    } catch (err) {
      this.#o.log.debug({ err }, 'noise re-read failed')
    }
  }

  /** `c` is the comparison behind `result` (for lag: the first one, whose differences went away). */
  async #record(job: ShadowJob, plan: ComparePlan, result: ParityResult, c: Comparison, status: { old: number, new: number }): Promise<{ result: ParityResult }> {
    const pointers = result === 'lag' ? [] : c.pointers
    const sample = this.#o.recorder.record(job.compiled.policy, {
      rule: job.rule.name, resourceType: job.resourceType, result, pointers,
      sample: () => ({
        path: job.request.path.split('?')[0]!, // query strings can carry credentials
        servedBy: job.servedBy, reason: job.reason,
        status,
        ...(c.detail ? { detail: c.detail } : {}),
        ...(c.old !== undefined && c.new !== undefined ? { diff: explainDiff(plan, c.old, c.new) } : {}),
      }),
    })
    if (result === 'critical') {
      const { name } = job.rule
      this.#drift.event(`${name}\u0000${job.resourceType}`, () => driftCondition(name, job.resourceType), { sample })
    }
    this.#o.gate.noteSample(job.rule.name, result, sample?.id)
    return { result }
  }

  #skipped(reason: SkipReason): { skipped: SkipReason } {
    this.#o.metrics.shadowSkipped.add(1, { reason })
    return { skipped: reason }
  }

  /** One read of `side` for comparison (see #exchange), its body bounded by shadow.maxBodyBytes. */
  async #read(job: ShadowJob, side: Side): Promise<TimedAnswer> {
    const { maxBodyBytes } = job.compiled.policy.shadow
    let collector = new BodyCollector(maxBodyBytes)
    let contentEncoding: string | undefined
    // An item is read as `side`'s store names it: the id there, from the id map.
    const request = side === job.servedBy || job.kind !== 'item' ? job.request : await this.#translated(job, side)
    const { status, ms } = await this.#exchange(job, side, request, (_status, headers) => {
      contentEncoding = headers['content-encoding']
      collector = new BodyCollector(maxBodyBytes)
      return collector
    })
    return { status, body: collector.body(), ms, ...(contentEncoding ? { contentEncoding } : {}) }
  }

  /**
   * Whether the object at `path` (one a compared answer references) exists on `side`: read like
   * the shadow read (its headers without the conditional ones, its breaker and timeout), the body
   * discarded. A 404 or 410 says absent; any other failure, that it could not tell.
   */
  async #exists(job: ShadowJob, side: Side, path: string): Promise<Presence> {
    try {
      const request = { ...job.request, method: 'GET' as const, path, headers: withoutConditionals(job.request.headers) }
      const { status } = await this.#exchange(job, side, request, () => discard())
      if (isSuccess(status)) return true
      return status === 404 || status === 410 ? false : undefined
    } catch (err) {
      this.#o.log.debug({ err: { message: (err as Error).message }, side }, 'a referenced object could not be looked up')
      return undefined
    }
  }

  /**
   * One exchange with `side` for comparison: the shadow breaker and timeout; with
   * `shadow.credentials: upstream`, the side's own credentials instead of the client's (sent again
   * once when refused and a credential file has changed since: a rotated Secret; `ms` is then the
   * latency of the exchange that answered).
   */
  async #exchange(job: ShadowJob, side: Side, request: UpstreamRequest, sink: BodySink): Promise<{ status: number, ms: number }> {
    const { shadow } = job.compiled.policy
    const upstream = job.upstreams.get(side)
    const own = shadow.credentials === 'upstream'
    const attempt = async (fresh: boolean) => {
      const headers = own ? await upstream.credentials.replaceCredentials(request.headers, fresh) : request.headers
      const started = performance.now()
      const status = await upstream.read('shadow', { ...request, headers, timeoutMs: shadow.timeoutMs }, sink)
      return { status, ms: performance.now() - started }
    }
    const first = await attempt(false)
    if (own && (first.status === 401 || first.status === 403) && await upstream.credentials.refresh()) return attempt(true)
    return first
  }

  /** The read of one object as `side`'s store names it (its own id, from the id map). */
  async #translated(job: ShadowJob, side: Side): Promise<UpstreamRequest> {
    const { policy } = job.compiled
    const resource = policy.resources.find(r => r.type === job.resourceType)!
    return { ...job.request, path: await pathForSide(resource, policy.identity.tenant.pathParam, job.request.path, side, this.#o.ids) }
  }

  #plan(compiled: CompiledPolicy, resourceType: string): ComparePlan {
    let plans = this.#plans.get(compiled)
    if (!plans) {
      plans = new Map(compiled.policy.resources.map(r => [r.type, compilePlan(r)]))
      this.#plans.set(compiled, plans)
    }
    return plans.get(resourceType)!
  }
}

type TimedAnswer = BodyAnswer & { ms: number }

/** Validators and ranges would turn a look-up into a 304 or a part of the object: only its existence is asked. */
const CONDITIONAL_HEADERS: ReadonlySet<string> = new Set(['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range'])

function withoutConditionals(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CONDITIONAL_HEADERS.has(name.toLowerCase())))
}

function discard(): Writable {
  return new Writable({ write(_chunk, _encoding, done) { done() } })
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300
}

function driftCondition(rule: string, resourceType: string): Condition {
  return {
    fields: { rule, resourceType },
    began: `critical drift on ${resourceType} (rule "${rule}")`,
    summary: (n, s) => `${n} more critical differences on ${resourceType} (rule "${rule}") in the last ${s} s; samples in /status`,
  }
}
