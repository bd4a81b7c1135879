// The signals over time, from hourly counts: per hour or per UTC day, per slice, as the gates compute them.
import t from 'tap'
import { addObservation, type Fields } from '../../src/evidence/counts.ts'
import { signalSeries } from '../../src/evidence/series.ts'
import { HOUR_MS } from '../../src/evidence/store.ts'

const fields = (...observations: Array<Parameters<typeof addObservation>[1]>): Fields => {
  const f: Fields = new Map()
  for (const o of observations) addObservation(f, o)
  return f
}

t.test('slices in rule and resource type order, each with a point per step it has counts in', async t => {
  const hours = [
    { at: 0, fields: fields({ rule: 'b', resourceType: 'team', outcome: 'match' }, { rule: 'a', resourceType: 'team', outcome: 'lag' }) },
    { at: HOUR_MS, fields: fields({ rule: 'a', resourceType: 'route', outcome: 'cosmetic' }, { rule: 'a', resourceType: 'team', failed: ['old', 'new'] }) },
  ]
  const byHour = signalSeries(hours, 'hour')
  t.same(byHour.map(s => `${s.rule}/${s.resourceType}:${s.points.length}`), ['a/route:1', 'a/team:2', 'b/team:1'])
  t.match(byHour[1]!.points, [{ samples: 1, matchRate: 1 }, { samples: 0, matchRate: null, errors: { old: 1, new: 1 }, errorRate: { old: 0.5, new: 0.5 }, errorRateIncrease: 0 }], 'as the gate counts them: each failed side is a pair')
  t.same(signalSeries(hours, 'day').map(s => s.points.length), [1, 1, 1], 'the two hours are one day')
})

t.test('a slice with only latency counted has no rates: no samples, no pairs', async t => {
  const [s] = signalSeries([{ at: 0, fields: fields({ rule: 'a', resourceType: 'team', latencyMs: { old: 5 } }) }], 'hour')
  t.match(s!.points[0], { samples: 0, matchRate: null, errorRate: { old: null, new: null }, errorRateIncrease: null, p99Ratio: null, p99Ms: { new: null } })
  t.ok(s!.points[0]!.p99Ms.old! > 0)
})
