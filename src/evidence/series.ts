// The three signals of every slice over time, from the fleet's hourly buckets: what a reviewer
// reads in `dualread report` to see parity hold (or not) through the migration. Pure.
import type { SignalPoint } from '../status/schema.ts'
import { addFields, quantileMs, slicesOf, type Fields, type SliceCounts } from './counts.ts'
import { HOUR_MS } from './store.ts'

export type SeriesStep = 'hour' | 'day'
const STEP_MS: Record<SeriesStep, number> = { hour: HOUR_MS, day: 24 * HOUR_MS }

export interface SliceSeries { rule: string, resourceType: string, points: SignalPoint[] }

/**
 * Each slice's signals per hour or per day (UTC), oldest first; a slice has a point only where
 * it has counts.
 * @example signalSeries(await store.hours(from, to), 'day')
 */
export function signalSeries(hours: Array<{ at: number, fields: Fields }>, step: SeriesStep): SliceSeries[] {
  const steps = new Map<number, Fields>()
  for (const h of hours) {
    const at = Math.floor(h.at / STEP_MS[step]) * STEP_MS[step]
    let fields = steps.get(at)
    if (!fields) steps.set(at, fields = new Map())
    addFields(fields, h.fields)
  }
  const slices = new Map<string, SliceSeries>()
  for (const [at, fields] of [...steps.entries()].sort((a, b) => a[0] - b[0])) {
    for (const c of slicesOf(fields)) {
      const key = `${c.rule}\u0000${c.resourceType}`
      let s = slices.get(key)
      if (!s) slices.set(key, s = { rule: c.rule, resourceType: c.resourceType, points: [] })
      s.points.push(signalsOf(at, c))
    }
  }
  return [...slices.values()].sort((a, b) => a.rule.localeCompare(b.rule) || a.resourceType.localeCompare(b.resourceType))
}

/** The signals as the gates compute them (judge.ts), without their limits. */
function signalsOf(at: number, c: SliceCounts): SignalPoint {
  const pairs = c.samples + c.errors.old + c.errors.new
  const rate = (n: number) => (pairs === 0 ? null : n / pairs)
  const p99 = { old: quantileMs(c.latency.old, 0.99) ?? null, new: quantileMs(c.latency.new, 0.99) ?? null }
  return {
    at: new Date(at).toISOString(),
    samples: c.samples,
    matchRate: c.samples === 0 ? null : (c.results.match + c.results.lag) / c.samples,
    errors: c.errors,
    errorRate: { old: rate(c.errors.old), new: rate(c.errors.new) },
    errorRateIncrease: pairs === 0 ? null : (c.errors.new - c.errors.old) / pairs,
    p99Ms: p99,
    p99Ratio: p99.old === null || p99.new === null ? null : p99.new / Math.max(p99.old, 0.001),
  }
}
