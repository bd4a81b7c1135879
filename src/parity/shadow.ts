// Shadow reads: after the client has its answer, the same read goes to the other side, both
// answers are compared, a version difference is rechecked (lag, not drift), now and then the
// serving side is read twice (noise), and the outcome feeds the parity record and the gate.
// Bounded: sampled, at most shadow.maxInFlight at once, bodies up to maxBodyBytes, its own
// breaker per upstream and its own timeout. What is not compared is counted, never queued.
// This thread only moves bytes: decoding, parsing and comparing run in worker threads
// (compare-pool.ts); byte-equal bodies and status differences are decided here, without a parse,
// and the objects a pair references (found in the worker) are looked up here, by reads.
import { setTimeout as sleep } from 'node:timers/promises'
import { otherSide } from '../policy/choose.ts'
import type { CompiledPolicy } from '../policy/compile.ts'
import type { Resource, Rule, Side } from '../policy/schema.ts'
import type { IdMap } from '../state/id-map.ts'
import { ConditionLog, type Condition } from '../telemetry/condition-log.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { endShadowSpan, startShadowSpan, traceComparison, type Traced } from '../telemetry/spans.ts'
import { compareWithoutParsing, isSuccess, type BodyAnswer } from './compare.ts'
import type { ComparePair } from './compare-pool.ts'
import type { CompareOutcome } from './compare-task.ts'
import { decodeBody } from './decode.ts'
import { pathForSide } from './id-translation.ts'
import { LinkTranslator } from './link-translation.ts'
import { ReferenceCheck, withLinks } from './reference-check.ts'
import type { ReferenceCacheOptions } from './reference-cache.ts'
import type { Presence } from './references.ts'
import type { Observation } from '../evidence/counts.ts'
import type { DriftGate } from './gate.ts'
import type { ParityRecorder, ParityResult } from './report.ts'
import { WILDCARD } from './pointer.ts'
import { ShadowReadSkipped, type FinishedRead, type ShadowRequest, type ShadowStage, type SkipReason, type TimedAnswer } from './stage.ts'

export type { FinishedRead, SkipReason }

/** Every this many comparisons, the serving side is read a second time to tell noise from drift. */
export const NOISE_EVERY = 20

/** Where each shadow pair is counted for the fleet (src/evidence/recorder.ts). */
export interface EvidenceSink {
  observe(o: Observation): void
}

/** Where pairs are compared: a ComparePool (worker threads), or anything that answers alike. */
export interface Comparer {
  /** Never rejects; the bodies' buffers may be moved away (transferred), so are not used after. */
  compare(pair: ComparePair): Promise<CompareOutcome>
}

export interface ShadowOptions {
  /**
   * The sync's id map, for objects whose stores assign their own ids: an item is read under the
   * other store's id, and links to such objects are compared in old's ids. Without it, ids are
   * read and compared as they are.
   */
  ids?: Pick<IdMap, 'otherId'> | undefined
  metrics: Metrics
  log: Logger
  recorder: ParityRecorder
  gate: DriftGate
  evidence: EvidenceSink
  comparer: Comparer
  /** The cache of referenced objects' presence (tests shorten or shrink it). */
  referenceCache?: ReferenceCacheOptions
}

export class ShadowReader implements ShadowStage {
  #o: ShadowOptions
  #inFlight = 0
  #compared = 0
  #resources = new WeakMap<CompiledPolicy, Map<string, Resource>>()
  #links = new WeakMap<CompiledPolicy, LinkTranslator>()
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
  launch(job: FinishedRead): void {
    // A HEAD answer has no body: two of them always "match", which would only inflate the match rate.
    if (job.request.method === 'HEAD') return this.skip('no_body')
    // Traced: the shadow read is a child of the request's span, and every read it makes is its child.
    const traced = startShadowSpan(job.request.trace, otherSide(job.servedBy))
    void this.#run(traced ? { ...job, request: { ...job.request, trace: traced.context } } : job, traced)
      .catch((err: unknown) => { this.#o.log.error({ err }, 'shadow comparison failed unexpectedly'); return { skipped: 'failed' } })
      .then(outcome => endShadowSpan(traced, outcome)).finally(() => { this.#inFlight-- })
  }

  async #run(job: FinishedRead, traced: Traced | undefined): Promise<{ result: ParityResult } | { skipped: SkipReason }> {
    const { policy } = job.compiled
    const resource = this.#resource(job.compiled, job.resourceType)
    const shadowSide = otherSide(job.servedBy)
    const slice = { rule: job.rule.name, resourceType: job.resourceType }
    let shadow: TimedAnswer
    try {
      shadow = await job.sides.read(shadowSide, await this.#requestFor(job, shadowSide))
    } catch (err) {
      if (err instanceof ShadowReadSkipped) {
        // A side whose shadow breaker is open is failing: that counts against it, like an error.
        // Every connection busy is this proxy's saturation, not a failure of the shadow side: no evidence against it.
        if (err.reason === 'breaker_open') this.#o.evidence.observe({ ...slice, failed: [shadowSide] })
        return this.#skipped(err.reason)
      }
      this.#o.evidence.observe({ ...slice, failed: [shadowSide] })
      const failed: CompareOutcome = { result: 'error', pointers: [], versionsDiffer: false, detail: `${shadowSide} shadow read failed: ${(err as Error).message}` }
      const status = job.servedBy === 'old' ? { old: job.primary.status, new: 0 } : { old: 0, new: job.primary.status }
      return this.#record(job, 'error', failed, status)
    }
    // Nothing to compare (a 204 or a 304 on both sides); different statuses are still compared.
    if (job.primary.body.length === 0 && shadow.body.length === 0 && job.primary.status === shadow.status) return this.#skipped('no_body')
    // Decided before the comparison: a noise re-read compares against the primary body, so it keeps its own copy.
    const learnsNoise = ++this.#compared % NOISE_EVERY === 0
    const primary = learnsNoise ? { ...job.primary, body: Buffer.from(job.primary.body) } : job.primary
    const answers = (a: BodyAnswer, b: BodyAnswer): [BodyAnswer, BodyAnswer] => job.servedBy === 'old' ? [a, b] : [b, a]
    const statuses = (a: BodyAnswer, b: BodyAnswer) => ({ old: a.status, new: b.status })
    let [oldAnswer, newAnswer] = answers(primary, shadow)
    newAnswer = await this.#inOldIds(job, newAnswer)
    let status = statuses(oldAnswer, newAnswer)
    let comparison = await traceComparison(traced, () => this.#compare(job, resource, oldAnswer, newAnswer, true))
    const latencyMs = job.servedBy === 'old' ? { old: job.primaryMs, new: shadow.ms } : { old: shadow.ms, new: job.primaryMs }
    // Only two real answers are a sample. A 5xx never gets here (a read answering 5xx fails, and is
    // counted above or as a failed primary); an answer that cannot be read counts against its side
    // (a worker that failed is this proxy's trouble, not a side's).
    if (comparison.result === 'error' && comparison.failedSide) this.#o.evidence.observe({ ...slice, failed: [comparison.failedSide] })
    let result: ParityResult = comparison.result
    if (result !== 'match' && comparison.versionsDiffer && policy.shadow.recheckLagMs > 0) {
      await sleep(policy.shadow.recheckLagMs)
      try {
        const readAgain = async (side: Side) => job.sides.read(side, await this.#requestFor(job, side))
        ;[oldAnswer, newAnswer] = await Promise.all([readAgain('old'), readAgain('new').then(a => this.#inOldIds(job, a))])
        const again = await traceComparison(traced, () => this.#compare(job, resource, oldAnswer, newAnswer, true))
        if (again.result === 'match') result = 'lag'
        else { comparison = again; result = again.result; status = statuses(oldAnswer, newAnswer) }
      } catch (err) {
        this.#o.log.debug({ err }, 'lag recheck failed; keeping the first comparison')
      }
    }
    if (result !== 'error' && comparison.links !== undefined) ({ comparison, result } = await this.#checkLinks(job, comparison, result))
    if (result !== 'error') this.#o.evidence.observe({ ...slice, outcome: result, latencyMs })
    if (learnsNoise) await this.#learnNoise(job, resource)
    return this.#record(job, result, comparison, status)
  }

  /**
   * The comparison with its links looked up (see reference-check.ts). A broken link is looked up
   * again after recheckLagMs, like a version difference: healed by then (the sync had not copied
   * the parent yet), it was lag.
   */
  async #checkLinks(job: FinishedRead, comparison: CompareOutcome, result: ParityResult): Promise<{ comparison: CompareOutcome, result: ParityResult }> {
    const input = { compiled: job.compiled, tenant: job.tenant, targets: comparison.links!, store: { old: job.sides.store('old'), new: job.sides.store('new') } }
    // The links were compared in old's ids (#inOldIds): on new, an object of a type whose stores assign ids is read under new's.
    const tenantParam = job.compiled.policy.identity.tenant.pathParam
    const lookUp = async (side: Side, path: string, named: Resource) => this.#exists(job, side, side === 'old' ? path : await pathForSide(named, tenantParam, path, side, this.#o.ids))
    let links = await this.#references.check(input, lookUp)
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

  /**
   * Whether the object at `path` (one a compared answer references) exists on `side`: read like
   * the shadow read (its headers without the conditional ones), the body discarded. A 404 or 410
   * says absent; any other failure, that it could not tell.
   */
  async #exists(job: FinishedRead, side: Side, path: string): Promise<Presence> {
    try {
      const { status } = await job.sides.read(side, { ...job.request, method: 'GET', path, headers: withoutConditionals(job.request.headers) })
      if (isSuccess(status)) return true
      return status === 404 || status === 410 ? false : undefined
    } catch (err) {
      this.#o.log.debug({ err: { message: (err as Error).message }, side }, 'a referenced object could not be looked up')
      return undefined
    }
  }

  /**
   * The new store's answer with its links to objects whose stores assign their own ids (see
   * link-translation.ts) naming them by old's ids, so that two answers naming the same objects
   * compare equal. A link the id map does not pair keeps new's id: it differs, and its lookup
   * shows it broken. Only for resources with such links: the body is parsed here for them.
   */
  async #inOldIds(job: FinishedRead, answer: BodyAnswer): Promise<BodyAnswer> {
    const { ids } = this.#o
    if (ids === undefined || !isSuccess(answer.status)) return answer
    let links = this.#links.get(job.compiled)
    if (links === undefined) this.#links.set(job.compiled, links = new LinkTranslator(job.compiled.policy))
    if (!links.translates(job.resourceType)) return answer
    const decoded = decodeBody(answer)
    // One that does not decode is the comparison's to report.
    if (!decoded.ok) return answer
    const { doc } = await links.translate(job.resourceType, job.kind, decoded.doc, job.tenant, 'old', ids)
    return doc === decoded.doc ? answer : { status: answer.status, body: Buffer.from(JSON.stringify(doc)) }
  }

  /** The read as `side`'s store names the object: for an item, the id there (from the id map). */
  async #requestFor(job: FinishedRead, side: Side): Promise<ShadowRequest> {
    if (side === job.servedBy || job.kind !== 'item') return job.request
    const { policy } = job.compiled
    const resource = this.#resource(job.compiled, job.resourceType)
    return { ...job.request, path: await pathForSide(resource, policy.identity.tenant.pathParam, job.request.path, side, this.#o.ids) }
  }

  /** Decided here when no parse is needed; otherwise in a worker (or inline, for a small pair: see compare-pool.ts). */
  #compare(job: FinishedRead, resource: Resource, oldAnswer: BodyAnswer, newAnswer: BodyAnswer, explain: boolean): Promise<CompareOutcome> {
    const quick = compareWithoutParsing(resource.version !== undefined, oldAnswer, newAnswer)
    // Equal bodies still name objects that must exist on both sides: those are found where bodies are parsed.
    const linksToFind = Object.keys(resource.references).length > 0 && isSuccess(oldAnswer.status) && isSuccess(newAnswer.status)
    if (quick !== undefined && !linksToFind) return Promise.resolve(quick)
    return this.#o.comparer.compare({ resources: job.compiled.policy.resources, resourceType: job.resourceType, kind: job.kind, old: oldAnswer, new: newAnswer, explain })
  }

  async #learnNoise(job: FinishedRead, resource: Resource): Promise<void> {
    try {
      const again = await job.sides.read(job.servedBy, job.request)
      const differing = (await this.#compare(job, resource, job.primary, again, false)).pointers.map(p => p.pointer)
      // Compare pointers are relative to an item: a collection's `/items/*/etag` is `/etag`
      // (and an item that came and went between two reads is not a pointer to ignore).
      const within = `${resource.list.items}/${WILDCARD}/`
      const pointers = job.kind !== 'collection' ? differing : differing.filter(p => p.startsWith(within)).map(p => p.slice(within.length - 1))
      if (pointers.length > 0) {
        this.#o.recorder.recordNoise(job.rule.name, job.resourceType, job.compiled.policy.gates.rollbackOnCriticalDrift.windowSec, pointers)
      }
    } catch (err) {
      this.#o.log.debug({ err }, 'noise re-read failed')
    }
  }

  /** `c` is the comparison behind `result` (for lag: the first one, whose differences went away). */
  #record(job: FinishedRead, result: ParityResult, c: CompareOutcome, status: { old: number, new: number }): { result: ParityResult } {
    const pointers = result === 'lag' ? [] : c.pointers
    const sample = this.#o.recorder.record(job.compiled.policy, {
      rule: job.rule.name, resourceType: job.resourceType, result, pointers,
      sample: () => ({
        path: job.request.path.split('?')[0]!, // query strings can carry credentials
        servedBy: job.servedBy, reason: job.reason,
        status,
        ...(c.detail ? { detail: c.detail } : {}),
        ...(c.diff ? { diff: c.diff } : {}),
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

  #resource(compiled: CompiledPolicy, resourceType: string): Resource {
    let resources = this.#resources.get(compiled)
    if (!resources) {
      resources = new Map(compiled.policy.resources.map(r => [r.type, r]))
      this.#resources.set(compiled, resources)
    }
    return resources.get(resourceType)!
  }
}

/** Validators and ranges would turn a look-up into a 304 or a part of the object: only its existence is asked. */
const CONDITIONAL_HEADERS: ReadonlySet<string> = new Set(['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range'])

function withoutConditionals(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CONDITIONAL_HEADERS.has(name.toLowerCase())))
}

function driftCondition(rule: string, resourceType: string): Condition {
  return {
    fields: { rule, resourceType },
    began: `critical drift on ${resourceType} (rule "${rule}")`,
    summary: (n, s) => `${n} more critical differences on ${resourceType} (rule "${rule}") in the last ${s} s; samples in /status`,
  }
}
