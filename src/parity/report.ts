// The parity record: per rule and resource type, how shadow comparisons came out, which
// pointers drift, recent redacted samples and noisy pointers, as this replica saw them (the
// fleet's numbers and readiness are src/evidence/). Bounded: fixed windows, capped pointer
// tables, a small ring of samples.
import type { Attributes } from '@opentelemetry/api'
import type { Metrics } from '../telemetry/metrics.ts'
import type { Policy, Side } from '../policy/schema.ts'
import type { Reason } from '../policy/choose.ts'
import type { PointerDiff } from './compare.ts'
import { WindowCounter } from './window.ts'

export const RESULTS = ['match', 'cosmetic', 'critical', 'lag', 'error'] as const
export type ParityResult = typeof RESULTS[number]

const MAX_POINTERS = 100
const MAX_SAMPLES = 20
const TOP_POINTERS = 10
/** The results over time, for the dashboard: 30 buckets of 10 s, the last five minutes. */
const HISTORY_SEC = 300
const HISTORY_BUCKET_SEC = 10
/** Past this many distinct pointers per resource type, new ones are counted under one label. */
const OTHER_POINTER = '/(other)'

export interface Sample {
  id: string
  at: string
  rule: string
  resourceType: string
  path: string
  servedBy: Side
  reason: Reason
  result: ParityResult
  status: { old: number, new: number }
  detail?: string
  pointers: PointerDiff[]
  diff?: Array<{ op: string, path: string, old?: unknown, new?: unknown }>
}

export interface SliceReport {
  rule: string
  resourceType: string
  comparisons: number
  /** Share of comparisons that matched (lag counts as a match); a slice exists once it has one. */
  matchRate: number
  results: Record<ParityResult, number>
  window: { seconds: number, comparisons: number, results: Record<ParityResult, number> }
  /** The last five minutes in 10 s buckets, oldest first. */
  history: Array<{ at: string } & Record<ParityResult, number>>
  /** `reason: broken-reference`: the object named there exists on one side only (the value itself may be equal). */
  topPointers: Array<{ pointer: string, severity: 'critical' | 'cosmetic', reason?: 'broken-reference', count: number }>
  noisy: Array<{ pointer: string, count: number, suggestion: string }>
  samples: Sample[]
}

class Slice {
  readonly totals: Record<ParityResult, number> = { match: 0, cosmetic: 0, critical: 0, lag: 0, error: 0 }
  window: WindowCounter<ParityResult>
  readonly history = new WindowCounter(HISTORY_SEC, RESULTS, Date.now, HISTORY_BUCKET_SEC)
  /** By pointer (and reason, for a broken reference: the same pointer may also differ in value). */
  readonly pointers = new Map<string, { pointer: string, severity: 'critical' | 'cosmetic', reason?: 'broken-reference', count: number }>()
  readonly noisy = new Map<string, number>()
  readonly samples: Sample[] = []

  constructor(windowSec: number) {
    this.window = new WindowCounter(windowSec, RESULTS)
  }
}

export interface Comparison {
  rule: string
  resourceType: string
  result: ParityResult
  pointers: PointerDiff[]
  /** Built only when the recorder keeps a sample (differences only). */
  sample?: () => Omit<Sample, 'id' | 'at' | 'rule' | 'resourceType' | 'result' | 'pointers'>
}

export class ParityRecorder {
  #slices = new Map<string, Slice>()
  #metrics: Metrics
  #sampleSeq = 0

  constructor(metrics: Metrics) {
    this.#metrics = metrics
  }

  #slice(rule: string, resourceType: string, windowSec: number): Slice {
    const key = `${rule}\u0000${resourceType}`
    let slice = this.#slices.get(key)
    if (!slice) {
      slice = new Slice(windowSec)
      this.#slices.set(key, slice)
    } else if (slice.window.windowSec !== windowSec) {
      slice.window = new WindowCounter(windowSec, RESULTS) // the gate window was edited
    }
    return slice
  }

  /** Records one comparison; returns the sample kept for it, if any (differences are sampled). */
  record(policy: Policy, c: Comparison): Sample | undefined {
    const slice = this.#slice(c.rule, c.resourceType, policy.gates.rollbackOnCriticalDrift.windowSec)
    slice.totals[c.result]++
    slice.window.add(c.result)
    slice.history.add(c.result)
    this.#metrics.shadowComparisons.add(1, { rule: c.rule, resource_type: c.resourceType, result: c.result })
    for (const p of c.pointers) {
      const key = p.reason === undefined ? p.pointer : `${p.pointer}\u0000${p.reason}`
      const kept = slice.pointers.has(key) || slice.pointers.size < MAX_POINTERS
      const pointer = kept ? p.pointer : OTHER_POINTER
      const entry = slice.pointers.get(kept ? key : OTHER_POINTER)
      if (entry) entry.count++
      else slice.pointers.set(kept ? key : OTHER_POINTER, { pointer, severity: p.severity, ...(kept && p.reason ? { reason: p.reason } : {}), count: 1 })
      const attributes: Attributes = { resource_type: c.resourceType, pointer, severity: p.severity }
      this.#metrics.driftPointers.add(1, attributes)
    }
    if (c.result === 'match' || !c.sample) return undefined
    const sample: Sample = {
      id: `s${++this.#sampleSeq}`, at: new Date().toISOString(), rule: c.rule, resourceType: c.resourceType,
      result: c.result, pointers: c.pointers, ...c.sample(),
    }
    slice.samples.push(sample)
    if (slice.samples.length > MAX_SAMPLES) slice.samples.shift()
    return sample
  }

  /** Pointers that differed between two reads of the same side: noise, not drift. */
  recordNoise(rule: string, resourceType: string, windowSec: number, pointers: string[]): void {
    const slice = this.#slice(rule, resourceType, windowSec)
    for (const p of pointers) {
      if (slice.noisy.has(p) || slice.noisy.size < MAX_POINTERS) slice.noisy.set(p, (slice.noisy.get(p) ?? 0) + 1)
    }
  }

  report(policy: Policy): SliceReport[] {
    return [...this.#slices.entries()].map(([key, s]) => {
      const [rule, resourceType] = key.split('\u0000') as [string, string]
      const comparisons = RESULTS.reduce((n, r) => n + s.totals[r], 0)
      const windowResults = s.window.totals()
      const windowComparisons = RESULTS.reduce((n, r) => n + windowResults[r], 0)
      return {
        rule, resourceType, comparisons,
        matchRate: (s.totals.match + s.totals.lag) / comparisons,
        results: { ...s.totals },
        window: { seconds: s.window.windowSec, comparisons: windowComparisons, results: windowResults },
        history: s.history.series().map(b => ({ at: new Date(b.at).toISOString(), ...b.counts })),
        topPointers: [...s.pointers.values()].sort((a, b) => b.count - a.count).slice(0, TOP_POINTERS).map(v => ({ ...v })),
        noisy: [...s.noisy.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_POINTERS)
          .map(([pointer, count]) => ({ pointer, count, suggestion: `compare: { ignore: [${pointer}] }   # resource ${resourceType}` })),
        samples: [...s.samples].reverse(),
      }
    })
  }
}
