// The drift gate: while a rule sends reads to `new`, its slices are judged on the fleet's
// evidence (critical drift, and match rate, error rate and p99 where the gate sets them); one
// that fails flips the rule's reads back to the authority — through the rollback override, so
// with Redis the whole fleet obeys — counts it, and logs the evidence.
import type { Policy, Rule } from '../policy/schema.ts'
import type { OverrideStore } from '../rollback/overrides.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { BUCKET_MS, judgeRule, SIGNALS } from '../evidence/judge.ts'
import type { FleetSnapshot } from '../evidence/recorder.ts'

const EVIDENCE = 10

/** Told of every trip once its override is stored (for the audit log); must not throw. */
export type OnGateTrip = (rule: string, reason: string) => void

export interface DriftGateOptions {
  overrides: OverrideStore
  metrics: Metrics
  log: Logger
  onTrip: OnGateTrip
  /** The fleet's latest numbers. */
  evidence: () => FleetSnapshot
  clock?: () => number
}

/** A rule whose reads go, in whole or in part, to new: the gate watches it. */
export function readsNew(rule: Rule): boolean {
  return rule.primary === 'new' || rule.newPercent > 0
}

export class DriftGate {
  #o: DriftGateOptions
  #clock: () => number
  /** Since when each rule has been armed (reading new, no override): evidence from before is not its. */
  #armedSince = new Map<string, number>()
  #samples = new Map<string, string[]>()
  #tripping = new Set<string>()

  constructor(o: DriftGateOptions) {
    this.#o = o
    this.#clock = o.clock ?? Date.now
  }

  /** Keeps the newest ids of samples of critical comparisons per rule, to name them in a trip. */
  noteSample(rule: string, result: string, sampleId: string | undefined): void {
    if (result !== 'critical' || !sampleId) return
    this.#samples.set(rule, [...(this.#samples.get(rule) ?? []), sampleId].slice(-EVIDENCE))
  }

  /** Judges every armed rule on the fleet's evidence since it was armed; trips those that fail. */
  async evaluate(policy: Policy): Promise<void> {
    const now = this.#clock()
    const active = this.#o.overrides.current
    for (const rule of policy.rules) {
      const armed = policy.gates.rollbackOnCriticalDrift.enabled && readsNew(rule) && !active.all && !active.rules.has(rule.name)
      if (!armed) {
        this.#armedSince.delete(rule.name)
        continue
      }
      const since = this.#armedSince.get(rule.name) ?? now
      this.#armedSince.set(rule.name, since)
      const buckets = this.#o.evidence().buckets.filter(b => b.at + BUCKET_MS > since)
      const failing = judgeRule(policy, rule, buckets, now).filter(v => v.trips)
      if (failing.length === 0 || this.#tripping.has(rule.name)) continue
      const why = failing.map(v => SIGNALS.filter(s => v.signals[s]?.trips).map(s => v.signals[s]!.reason).join('; '))
      await this.#trip(policy, rule.name, failing.map((v, i) => failing.length > 1 ? `${v.resourceType}: ${why[i]}` : why[i]).join('; '))
    }
  }

  async #trip(policy: Policy, rule: string, why: string): Promise<void> {
    this.#tripping.add(rule)
    const samples = this.#samples.get(rule) ?? []
    const reason = `gate: ${why}${samples.length > 0 ? ` (samples ${samples.join(', ')})` : ''}`
    try {
      // Another replica may have judged the same evidence first: one trip, one record.
      if (!await this.#o.overrides.setIfAbsent(rule, reason)) return
      this.#o.metrics.gateRollbacks.add(1, { rule })
      this.#o.log.error({ rule, reason, samples },
        `drift gate tripped: reads of rule "${rule}" go back to the authority (${policy.authority}); clear with dualread rollback --clear once fixed`)
      this.#o.onTrip(rule, reason)
    } catch (err) {
      this.#o.log.error({ err, rule }, 'drift gate could not store its rollback; it tries again on its next judgement')
    } finally {
      this.#tripping.delete(rule)
    }
  }
}
