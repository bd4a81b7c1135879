// The drift gate: while a slice is served by `new`, critical drift at or over the threshold within
// the window flips that rule's reads back to the authority — through the rollback override, so
// with Redis the whole fleet obeys — counts it, and logs the evidence.
import type { Policy, Side } from '../policy/schema.ts'
import type { OverrideStore } from '../rollback/overrides.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { WindowCounter } from './window.ts'

const EVIDENCE = 10

interface RuleWindow {
  critical: WindowCounter<'critical'>
  evidence: string[]
}

/** Told of every trip once its override is stored (for the audit log); must not throw. */
export type OnGateTrip = (rule: string, reason: string) => void

export class DriftGate {
  #windows = new Map<string, RuleWindow>()
  #tripping = new Set<string>()
  #overrides: OverrideStore
  #metrics: Metrics
  #log: Logger
  #onTrip: OnGateTrip

  constructor(overrides: OverrideStore, metrics: Metrics, log: Logger, onTrip: OnGateTrip) {
    this.#overrides = overrides
    this.#metrics = metrics
    this.#log = log
    this.#onTrip = onTrip
  }

  /** Feeds one comparison of a read served by `servedBy`; trips the gate when the evidence is enough. */
  async observe(policy: Policy, rule: string, servedBy: Side, result: string, sampleId: string | undefined): Promise<void> {
    const gate = policy.gates.rollbackOnCriticalDrift
    if (!gate.enabled || servedBy !== 'new' || result !== 'critical') return
    let w = this.#windows.get(rule)
    if (!w || w.critical.windowSec !== gate.windowSec) {
      w = { critical: new WindowCounter(gate.windowSec, ['critical'] as const), evidence: [] }
      this.#windows.set(rule, w)
    }
    w.critical.add('critical')
    if (sampleId) w.evidence = [...w.evidence, sampleId].slice(-EVIDENCE)
    const critical = w.critical.totals().critical
    const active = this.#overrides.current
    if (critical < gate.threshold || active.all || active.rules.has(rule) || this.#tripping.has(rule)) return
    this.#tripping.add(rule)
    const reason = `gate: ${critical} critical difference(s) in ${gate.windowSec} s (samples ${w.evidence.join(', ')})`
    try {
      await this.#overrides.apply({ rule, reason })
      this.#metrics.gateRollbacks.add(1, { rule })
      this.#log.error({ rule, critical, threshold: gate.threshold, windowSec: gate.windowSec, samples: w.evidence },
        `drift gate tripped: reads of rule "${rule}" go back to the authority (${policy.authority}); clear with dualread rollback --clear once fixed`)
      this.#onTrip(rule, reason)
    } catch (err) {
      this.#log.error({ err, rule }, 'drift gate could not store its rollback; it will try again on the next critical difference')
    } finally {
      this.#tripping.delete(rule)
    }
  }
}
