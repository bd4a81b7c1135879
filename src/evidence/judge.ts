// Judging a slice on its evidence: critical drift, match rate, new's error rate against old's
// and new's p99 against old's, each over its own window with its own minimum of samples. Too few
// samples is inconclusive, never a pass; pairs in which a side failed are never samples.
import type { GateSignals, Policy, Rule } from '../policy/schema.ts'
import { addFields, quantileMs, slicesOf, type Fields, type SliceCounts } from './counts.ts'
import type { SignalVerdict, SliceVerdict } from '../status/schema.ts'

export type Readiness = SliceVerdict['readiness']
export const SIGNALS = ['criticalDrift', 'matchRate', 'errorRate', 'p99'] as const
export type Signal = typeof SIGNALS[number]

/** One signal as a rule's gate applies it: its limit, window and minimum of samples. */
export interface SignalGate { limit: number, windowSec: number, minSamples: number }
export type RuleGate = Partial<Record<Signal, SignalGate>>

/** The gate of `rule`: its own signals, else the policy's `gates:`; critical drift always. */
export function ruleGate(policy: Policy, rule: Rule): RuleGate {
  const base = policy.gates.rollbackOnCriticalDrift
  const own: GateSignals = rule.gate ?? {}
  const window = (s: { windowSec?: number | undefined, minSamples?: number | undefined } | undefined) => ({
    windowSec: s?.windowSec ?? base.windowSec, minSamples: s?.minSamples ?? base.minSamples,
  })
  const gate: RuleGate = { criticalDrift: { limit: own.criticalDrift?.threshold ?? base.threshold, ...window(own.criticalDrift) } }
  const matchRate = own.matchRate ?? policy.gates.matchRate
  if (matchRate) gate.matchRate = { limit: matchRate.min, ...window(matchRate) }
  const errorRate = own.errorRate ?? policy.gates.errorRate
  if (errorRate) gate.errorRate = { limit: errorRate.maxIncrease, ...window(errorRate) }
  const p99 = own.p99 ?? policy.gates.p99
  if (p99) gate.p99 = { limit: p99.maxRatio, ...window(p99) }
  return gate
}

/** The longest window any rule's gate looks at (s). */
export function longestWindowSec(policy: Policy): number {
  return Math.max(...policy.rules.flatMap(r => Object.values(ruleGate(policy, r)).map(s => s.windowSec)))
}

/** A slice's verdict and each signal's, as /status shows them: declared once, in the status schema. */
export type { SignalVerdict, SliceVerdict } from '../status/schema.ts'

/** Buckets of fleet counts, newest last; `at` is the bucket's start (ms). */
export interface Bucket { at: number, fields: Fields }

/** Sums the buckets that start within the last `windowSec` before `now`. */
export function sumWindow(buckets: Bucket[], now: number, windowSec: number): Fields {
  const from = now - windowSec * 1000
  const out: Fields = new Map()
  for (const b of buckets) if (b.at + BUCKET_MS > from) addFields(out, b.fields)
  return out
}

export const BUCKET_MS = 10_000

const pct = (x: number) => `${(100 * x).toFixed(1)}%`
const ms = (x: number) => `${x.toFixed(1)} ms`

/** Every slice of `rule` found in the buckets, judged by the rule's gate. */
export function judgeRule(policy: Policy, rule: Rule, buckets: Bucket[], now: number): SliceVerdict[] {
  const gate = ruleGate(policy, rule)
  const windows = new Map<number, SliceCounts[]>()
  const countsIn = (windowSec: number) => {
    let slices = windows.get(windowSec)
    if (!slices) windows.set(windowSec, slices = slicesOf(sumWindow(buckets, now, windowSec)).filter(s => s.rule === rule.name))
    return slices
  }
  const drift = gate.criticalDrift!
  const types = new Set(countsIn(drift.windowSec).map(s => s.resourceType))
  for (const signal of Object.values(gate)) for (const s of countsIn(signal.windowSec)) types.add(s.resourceType)
  return [...types].sort().map(resourceType => {
    const at = (windowSec: number) => countsIn(windowSec).find(s => s.resourceType === resourceType) ?? emptyCounts(rule.name, resourceType)
    const signals: SliceVerdict['signals'] = {}
    for (const signal of SIGNALS) {
      const g = gate[signal]
      if (g) signals[signal] = JUDGES[signal](at(g.windowSec), g)
    }
    const main = at(drift.windowSec)
    const failed = SIGNALS.filter(s => signals[s]?.verdict === 'fail')
    const waiting = SIGNALS.filter(s => signals[s]?.verdict === 'inconclusive')
    const readiness: Readiness = failed.length > 0 ? 'not-ready' : waiting.length > 0 ? 'inconclusive' : 'ready'
    const reason = failed.length > 0 ? failed.map(s => signals[s]!.reason).join('; ')
      : waiting.length > 0 ? waiting.map(s => signals[s]!.reason).join('; ')
        : `${main.samples} comparisons in the last ${drift.windowSec} s: ${SIGNALS.filter(s => signals[s]).map(s => signals[s]!.reason).join('; ')}`
    return {
      rule: rule.name, resourceType, readiness, reason, signals, trips: SIGNALS.some(s => signals[s]?.trips),
      window: {
        seconds: drift.windowSec, samples: main.samples, results: main.results, errors: main.errors,
        p99Ms: { old: quantileMs(main.latency.old, 0.99) ?? null, new: quantileMs(main.latency.new, 0.99) ?? null },
      },
    }
  })
}

function emptyCounts(rule: string, resourceType: string): SliceCounts {
  return { rule, resourceType, results: { match: 0, cosmetic: 0, critical: 0, lag: 0 }, samples: 0, errors: { old: 0, new: 0 }, latency: { old: [], new: [] } }
}

const JUDGES: Record<Signal, (c: SliceCounts, g: SignalGate) => SignalVerdict> = {
  criticalDrift(c, g) {
    const critical = c.results.critical
    if (critical >= g.limit) return { verdict: 'fail', trips: true, value: critical, reason: `${critical} critical difference(s) in ${g.windowSec} s` }
    // Not ready to promote with any critical difference, though the gate waits for its threshold.
    if (critical > 0) return { verdict: 'fail', trips: false, value: critical, reason: `${critical} critical difference(s) in ${g.windowSec} s (the gate trips at ${g.limit})` }
    if (c.samples < g.minSamples) return { verdict: 'inconclusive', trips: false, value: critical, reason: `${c.samples} of ${g.minSamples} comparisons needed in the last ${g.windowSec} s` }
    return { verdict: 'pass', trips: false, value: critical, reason: 'no critical difference' }
  },
  matchRate(c, g) {
    if (c.samples < g.minSamples) return { verdict: 'inconclusive', trips: false, value: null, reason: `match rate: ${c.samples} of ${g.minSamples} comparisons needed in ${g.windowSec} s` }
    const rate = (c.results.match + c.results.lag) / c.samples
    return rate < g.limit
      ? { verdict: 'fail', trips: true, value: rate, reason: `match rate ${pct(rate)} under ${pct(g.limit)} in ${g.windowSec} s` }
      : { verdict: 'pass', trips: false, value: rate, reason: `match rate ${pct(rate)}` }
  },
  errorRate(c, g) {
    const pairs = c.samples + c.errors.old + c.errors.new
    if (pairs < g.minSamples) return { verdict: 'inconclusive', trips: false, value: null, reason: `error rate: ${pairs} of ${g.minSamples} reads needed in ${g.windowSec} s` }
    const increase = (c.errors.new - c.errors.old) / pairs
    return increase > g.limit
      ? { verdict: 'fail', trips: true, value: increase, reason: `new failed ${pct(c.errors.new / pairs)} of reads, old ${pct(c.errors.old / pairs)}: more than ${pct(g.limit)} worse in ${g.windowSec} s` }
      : { verdict: 'pass', trips: false, value: increase, reason: `errors new ${pct(c.errors.new / pairs)} vs old ${pct(c.errors.old / pairs)}` }
  },
  p99(c, g) {
    const count = (h: number[]) => h.reduce((a, b) => a + b, 0)
    const seen = Math.min(count(c.latency.old), count(c.latency.new))
    if (seen < g.minSamples) return { verdict: 'inconclusive', trips: false, value: null, reason: `p99: ${seen} of ${g.minSamples} timed answers from each side needed in ${g.windowSec} s` }
    const [old, neu] = [quantileMs(c.latency.old, 0.99)!, quantileMs(c.latency.new, 0.99)!]
    const ratio = neu / Math.max(old, 0.001)
    return ratio > g.limit
      ? { verdict: 'fail', trips: true, value: ratio, reason: `new's p99 ${ms(neu)} is ${ratio.toFixed(2)}× old's ${ms(old)}, over ${g.limit}× in ${g.windowSec} s` }
      : { verdict: 'pass', trips: false, value: ratio, reason: `p99 new ${ms(neu)} vs old ${ms(old)}` }
  },
}
