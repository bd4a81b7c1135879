// Judging slices on their evidence: only two real answers are samples; too few is inconclusive;
// each signal fails on its own limit; the gate trips on critical drift only at its threshold.
import t from 'tap'
import { addObservation, LATENCY_BOUNDS_MS, latencyBucket, quantileMs, slicesOf, type Fields, type Observation } from '../../src/evidence/counts.ts'
import { BUCKET_MS, judgeRule, longestWindowSec, ruleGate, sumWindow, type Bucket } from '../../src/evidence/judge.ts'
import { policyWith } from '../policy/fixtures.ts'

const NOW = 1_000_000 * BUCKET_MS

function bucketOf(observations: Observation[], at = NOW): Bucket {
  const fields: Fields = new Map()
  for (const o of observations) addObservation(fields, o)
  return { at, fields }
}
const times = (n: number, o: Omit<Observation, 'rule' | 'resourceType'>): Observation[] => Array.from({ length: n }, () => ({ rule: 'acme', resourceType: 'alert-rule', ...o }))

const policy = (gate: Record<string, unknown> = {}, gates: Record<string, unknown> = {}) => policyWith({
  rules: [{ name: 'acme', primary: 'new', gate }, { name: 'default', primary: 'old' }],
  gates: { rollbackOnCriticalDrift: { threshold: 3, windowSec: 60, minSamples: 20 }, ...gates },
} as never)
const judge = (p: ReturnType<typeof policy>, buckets: Bucket[]) => judgeRule(p, p.rules[0]!, buckets, NOW)

t.test('errors, timeouts and 5xx are never samples: twenty failed pairs are inconclusive, not ready', async t => {
  const [v] = judge(policy(), [bucketOf(times(20, { failed: ['new'] }))])
  t.match(v, { readiness: 'inconclusive', trips: false, window: { samples: 0, errors: { old: 0, new: 20 } } })
  t.match(v!.reason, /0 of 20 comparisons needed/)
  const [both] = judge(policy(), [bucketOf(times(20, { failed: ['old', 'new'] }))])
  t.match(both, { readiness: 'inconclusive', window: { errors: { old: 20, new: 20 } } }, 'both sides failing is no match either')
})

t.test('enough clean comparisons are ready; any critical difference is not, the gate trips at its threshold', async t => {
  const clean = times(20, { outcome: 'match', latencyMs: { old: 5, new: 5 } })
  t.match(judge(policy(), [bucketOf(clean)]), [{ readiness: 'ready', trips: false }])
  const one = judge(policy(), [bucketOf([...clean, ...times(1, { outcome: 'critical' })])])[0]!
  t.match(one, { readiness: 'not-ready', trips: false })
  t.match(one.reason, /1 critical difference\(s\) in 60 s \(the gate trips at 3\)/)
  const three = judge(policy(), [bucketOf(times(3, { outcome: 'critical' }))])[0]!
  t.match(three, { readiness: 'not-ready', trips: true, reason: '3 critical difference(s) in 60 s' }, 'the threshold trips with few samples too')
})

t.test('a match rate under its floor fails the slice', async t => {
  const p = policy({ matchRate: { min: 0.9 } })
  const mixed = [...times(16, { outcome: 'match' }), ...times(4, { outcome: 'cosmetic' })]
  t.match(judge(p, [bucketOf(mixed)])[0], { readiness: 'not-ready', trips: true, reason: 'match rate 80.0% under 90.0% in 60 s' })
  t.match(judge(p, [bucketOf([...mixed, ...times(20, { outcome: 'lag' })])])[0], { readiness: 'ready' }, 'lag counts as a match')
  t.match(judge(p, [bucketOf(times(5, { outcome: 'cosmetic' }))])[0]!.signals.matchRate, { verdict: 'inconclusive', reason: 'match rate: 5 of 20 comparisons needed in 60 s' })
})

t.test('a new side that errs 5% more than old fails; as often as old does not', async t => {
  const p = policy({}, { errorRate: { maxIncrease: 0.01 } })
  const worse = [...times(95, { outcome: 'match' }), ...times(5, { failed: ['new'] })]
  const v = judge(p, [bucketOf(worse)])[0]!
  t.match(v, { readiness: 'not-ready', trips: true })
  t.match(v.signals.errorRate, { verdict: 'fail', value: 0.05 })
  t.match(v.reason, /new failed 5\.0% of reads, old 0\.0%/)
  t.match(judge(p, [bucketOf(times(5, { failed: ['new'] }))])[0]!.signals.errorRate, { verdict: 'inconclusive', reason: 'error rate: 5 of 20 reads needed in 60 s' })
  const same = [...times(90, { outcome: 'match' }), ...times(5, { failed: ['new'] }), ...times(5, { failed: ['old'] })]
  t.match(judge(p, [bucketOf(same)])[0], { readiness: 'ready' })
})

t.test('a new side 3× slower at p99 fails a 1.5× gate; one as fast passes', async t => {
  const p = policy({ p99: { maxRatio: 1.5 } })
  const slow = times(50, { outcome: 'match', latencyMs: { old: 10, new: 30 } })
  const v = judge(p, [bucketOf(slow)])[0]!
  t.match(v, { readiness: 'not-ready', trips: true })
  t.ok(v.signals.p99!.value! > 2.5 && v.signals.p99!.value! < 3.5, `ratio ${v.signals.p99!.value} is about 3`)
  t.match(judge(p, [bucketOf(times(50, { outcome: 'match', latencyMs: { old: 10, new: 11 } }))])[0], { readiness: 'ready' })
  t.match(judge(p, [bucketOf(times(5, { outcome: 'match', latencyMs: { old: 10, new: 90 } }))])[0]!.signals.p99, { verdict: 'inconclusive' }, 'too few timed answers')
})

t.test('each signal counts over its own window; older buckets are left out', async t => {
  const p = policy({ criticalDrift: { windowSec: 20 } })
  const old = bucketOf(times(3, { outcome: 'critical' }), NOW - 30_000)
  t.match(judge(p, [old, bucketOf(times(20, { outcome: 'match' }))]), [{ readiness: 'ready' }], 'criticals 30 s ago are outside a 20 s window')
  const longer = policy({ criticalDrift: { windowSec: 20 }, matchRate: { min: 0.9, windowSec: 60, minSamples: 3 } })
  t.match(judge(longer, [old]), [{ readiness: 'not-ready', signals: { criticalDrift: { verdict: 'inconclusive' }, matchRate: { verdict: 'fail' } } }],
    'a slice seen only in the longer window is judged there, and empty in the shorter one')
  t.equal(longestWindowSec(p), 60, 'the default rule keeps the policy\'s 60 s')
  t.same(sumWindow([old], NOW, 60), old.fields)
  t.same(ruleGate(p, p.rules[1]!), { criticalDrift: { limit: 3, windowSec: 60, minSamples: 20 } })
})

t.test('histograms: buckets grow by 1.25×, quantiles interpolate, the overflow bucket is open-ended', async t => {
  t.equal(latencyBucket(0.1), 0)
  t.equal(latencyBucket(120_000), LATENCY_BOUNDS_MS.length)
  t.equal(quantileMs([], 0.99), undefined)
  const h: number[] = []
  h[latencyBucket(10)] = 100
  const p99 = quantileMs(h, 0.99)!
  t.ok(p99 > 9 && p99 <= 11.4, `p99 ${p99} sits in the bucket of 10 ms (9.1 to 11.4)`)
  t.equal(quantileMs(h, 0), 0, 'q = 0 is the low edge of the first bucket')
  const over: number[] = []
  over[LATENCY_BOUNDS_MS.length] = 1
  t.ok(quantileMs(over, 1)! > LATENCY_BOUNDS_MS.at(-1)!)
  const first: number[] = [4]
  t.ok(quantileMs(first, 0.5)! < LATENCY_BOUNDS_MS[0]!)
  t.same(slicesOf(new Map([['r\u0000t\u0000unknown', 1]]))[0]!.samples, 0, 'an unknown counter is ignored')
})
