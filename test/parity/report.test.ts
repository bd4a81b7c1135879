import t from 'tap'
import { ParityRecorder } from '../../src/parity/report.ts'
import { WindowCounter } from '../../src/parity/window.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { policyWith } from '../policy/fixtures.ts'

t.test('the pointer table is capped so one odd resource cannot grow memory or metric labels', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const recorder = new ParityRecorder(metrics)
  const policy = policyWith({})
  for (let i = 0; i < 150; i++) {
    recorder.record(policy, { rule: 'r', resourceType: 'team', result: 'cosmetic', pointers: [{ pointer: `/labels/k${i}`, severity: 'cosmetic' }] })
  }
  const [report] = recorder.report(policy)
  t.equal(report!.topPointers.find(p => p.pointer === '/(other)')?.count, 50, 'pointers past the 100th are counted together')
  t.equal(report!.samples.length, 0, 'no sample without a sample builder')
})

t.test('a window forgets what is older than its length', async t => {
  let now = 0
  const w = new WindowCounter(3, ['a', 'b'] as const, () => now)
  w.add('a')
  now = 1000
  w.add('b', 2)
  t.same(w.totals(), { a: 1, b: 2 })
  now = 3000
  t.same(w.totals(), { a: 0, b: 2 }, 'second 0 left the 3-second window')
  now = 4000
  w.add('a')
  t.same(w.totals(), { a: 1, b: 0 }, 'a reused bucket starts from zero')
})

t.test('a window of wider buckets gives its history oldest first, empty buckets as zero', async t => {
  let now = 25_000
  const w = new WindowCounter(30, ['a'] as const, () => now, 10)
  w.add('a')
  now = 41_000
  w.add('a', 2)
  t.same(w.series(), [{ at: 20_000, counts: { a: 1 } }, { at: 30_000, counts: { a: 0 } }, { at: 40_000, counts: { a: 2 } }])
  now = 52_000
  t.same(w.series().map(b => b.counts.a), [0, 2, 0], 'the oldest bucket left the window')
  t.same(w.totals(), { a: 2 })
})

t.test('editing the gate window resizes the parity window', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const recorder = new ParityRecorder(metrics)
  recorder.record(policyWith({}), { rule: 'r', resourceType: 'team', result: 'match', pointers: [] })
  const edited = policyWith({ gates: { rollbackOnCriticalDrift: { windowSec: 30 } } })
  recorder.record(edited, { rule: 'r', resourceType: 'team', result: 'match', pointers: [] })
  const [report] = recorder.report(edited)
  t.equal(report!.window.seconds, 30)
  t.equal(report!.comparisons, 2)
})

t.test('only the 20 most recent samples are kept, newest first', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const recorder = new ParityRecorder(metrics)
  const policy = policyWith({})
  for (let i = 0; i < 25; i++) {
    recorder.record(policy, {
      rule: 'r', resourceType: 'team', result: 'cosmetic', pointers: [],
      sample: () => ({ path: `/teams/${i}`, servedBy: 'old', reason: 'rule', status: { old: 200, new: 200 } }),
    })
  }
  const samples = recorder.report(policy)[0]!.samples
  t.equal(samples.length, 20)
  t.same([samples[0]!.path, samples[19]!.path], ['/teams/24', '/teams/5'])
})
