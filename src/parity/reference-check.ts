// The shadow stage's reference check: after two answers are compared, the objects they name
// (their resource's `references`) are looked up on both sides, through a short-lived bounded
// cache, and a link that resolves on one side only turns the comparison critical. It runs in
// the comparison's own shadow slot (shadow.maxInFlight), each read with shadow.timeoutMs, after
// the client has its answer.
import pMap from 'p-map'
import type { CompiledPolicy } from '../policy/compile.ts'
import type { Resource, Side } from '../policy/schema.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import type { DriftResult, PointerDiff } from './compare.ts'
import { ReferenceCache, type ReferenceCacheOptions } from './reference-cache.ts'
import { BROKEN_REFERENCE, classifyLinks, describeLink, itemPathOf, type LinkOutcome, type LinkTarget, type Presence, type Resolved } from './references.ts'

/** Objects looked up per comparison at most (a long list page naming many parents); the rest count as unresolved. */
export const MAX_LINKS_PER_COMPARISON = 100
/** Lookups of one comparison in flight at once. */
export const LINK_READS_AT_ONCE = 4

/** Reads one object's path on a side (an object of `named`) and says whether it exists; never rejects. */
export type LookUp = (side: Side, path: string, named: Resource) => Promise<Presence>

export interface ReferenceCheckInput {
  compiled: CompiledPolicy
  tenant: string | undefined
  /** The objects the compared answers name (found where they were compared: answersTargets). */
  targets: LinkTarget[]
  /** Identifies the side's store in the cache (its URL): a reload may point a side elsewhere. */
  store: Record<Side, string>
}

export class ReferenceCheck {
  #cache: ReferenceCache
  #metrics: Metrics

  constructor(metrics: Metrics, cache: ReferenceCacheOptions = {}) {
    this.#metrics = metrics
    this.#cache = new ReferenceCache(cache)
  }

  /** Looks up every object the compared answers name, on both sides. */
  async check(input: ReferenceCheckInput, lookUp: LookUp): Promise<LinkOutcome> {
    const { targets } = input
    const resolved = await this.#resolve(input, targets.slice(0, MAX_LINKS_PER_COMPARISON), lookUp)
    for (const target of targets.slice(MAX_LINKS_PER_COMPARISON)) resolved.push({ ...target, old: undefined, new: undefined })
    return classifyLinks(resolved)
  }

  /**
   * `outcome` with its broken links looked up again on both sides, with answers read after
   * `since` (the cache's clock, see now()): a parent the sync copied meanwhile was replication
   * lag, not a broken link. Another comparison's answer read since then is used as it is.
   */
  async recheck(input: ReferenceCheckInput, outcome: LinkOutcome, lookUp: LookUp, since: number): Promise<LinkOutcome> {
    const again = classifyLinks(await this.#resolve(input, outcome.broken, lookUp, since))
    return {
      broken: again.broken,
      dangling: [...outcome.dangling, ...again.dangling],
      resolved: [...outcome.resolved, ...again.resolved],
      unresolved: [...outcome.unresolved, ...again.unresolved],
    }
  }

  /** The cache's clock (ms). */
  now(): number {
    return this.#cache.now()
  }

  async #resolve(input: ReferenceCheckInput, targets: LinkTarget[], lookUp: LookUp, fresherThan?: number): Promise<Resolved[]> {
    const { policy } = input.compiled
    const byType = new Map(policy.resources.map(r => [r.type, r]))
    const tenantParam = policy.identity.tenant.pathParam
    return pMap(targets, async (target): Promise<Resolved> => {
      const named = byType.get(target.type)!
      const path = itemPathOf(named, tenantParam, input.tenant, target.id)
      const [old, neu] = await Promise.all((['old', 'new'] as const).map(side => this.#cache.presence(`${input.store[side]} ${path}`, () => lookUp(side, path, named), fresherThan)))
      return { type: target.type, id: target.id, pointers: target.pointers, old, new: neu }
    }, { concurrency: LINK_READS_AT_ONCE })
  }

  /** Counts each looked-up object at each of its pointers, by result (dualread_shadow_references_total). */
  count(resourceType: string, outcome: LinkOutcome): void {
    for (const result of ['resolved', 'broken', 'dangling', 'unresolved'] as const) {
      for (const r of outcome[result]) for (const pointer of r.pointers) this.#metrics.shadowReferences.add(1, { resource_type: resourceType, pointer, result })
    }
  }
}

/**
 * The comparison with what the links showed: each broken one a critical pointer of its own
 * (reason `broken-reference`), and broken and dangling ones explained in the detail.
 */
export function withLinks<C extends { result: DriftResult, pointers: PointerDiff[], detail?: string }>(comparison: C, outcome: LinkOutcome): C {
  const notes = [...outcome.broken, ...outcome.dangling].map(describeLink)
  if (notes.length === 0) return comparison
  const broken = [...new Set(outcome.broken.flatMap(r => r.pointers))].map((pointer): PointerDiff => ({ pointer, severity: 'critical', reason: BROKEN_REFERENCE }))
  const pointers = [...comparison.pointers, ...broken].sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0))
  const detail = [comparison.detail, ...notes].filter(d => d !== undefined).join('; ')
  return { ...comparison, result: broken.length > 0 ? 'critical' : comparison.result, pointers, detail }
}
