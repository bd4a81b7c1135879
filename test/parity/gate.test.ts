// The gate on its own: it judges armed rules on the fleet's snapshot, trips once, names what
// failed per slice, and leaves alone a rule another replica already tripped.
import t from 'tap'
import { addObservation, type Fields } from '../../src/evidence/counts.ts'
import { BUCKET_MS } from '../../src/evidence/judge.ts'
import type { FleetSnapshot } from '../../src/evidence/recorder.ts'
import { DriftGate } from '../../src/parity/gate.ts'
import { MemoryOverrideStore } from '../../src/rollback/overrides.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { policyWith } from '../policy/fixtures.ts'
import { captureLog } from '../helpers/sidecar.ts'

const NOW = 500 * BUCKET_MS
const critical = (resourceType: string, n: number): Fields => {
  const f: Fields = new Map()
  for (let i = 0; i < n; i++) addObservation(f, { rule: 'acme', resourceType, outcome: 'critical' })
  return f
}
const policy = policyWith({
  rules: [{ name: 'acme', primary: 'new' }, { name: 'default', primary: 'old' }],
  gates: { rollbackOnCriticalDrift: { threshold: 2, windowSec: 60, minSamples: 1 } },
} as never)

function gateOver(snapshot: FleetSnapshot, overrides = new MemoryOverrideStore()) {
  const metrics = new Metrics()
  const { log, logs } = captureLog()
  const trips: string[] = []
  const gate = new DriftGate({ overrides, metrics, log, evidence: () => snapshot, onTrip: (rule, reason) => trips.push(`${rule}: ${reason}`), clock: () => NOW })
  return { gate, overrides, trips, logs, metrics }
}

t.test('two failing slices trip the rule once, each named; no sample ids when this replica saw none', async t => {
  const fields = critical('team', 2)
  for (const [k, v] of critical('alert-rule', 3)) fields.set(k, v)
  const { gate, overrides, trips, metrics } = gateOver({ buckets: [{ at: NOW, fields }], replicas: 2, at: NOW })
  t.teardown(() => metrics.shutdown())
  await Promise.all([gate.evaluate(policy), gate.evaluate(policy)])
  t.same(trips, ['acme: gate: alert-rule: 3 critical difference(s) in 60 s; team: 2 critical difference(s) in 60 s'], 'one trip while another judgement is under way')
  t.match(overrides.entries()['acme'], { reason: /^gate: alert-rule: 3 critical/ })
  await gate.evaluate(policy)
  t.equal(trips.length, 1, 'a rolled-back rule is not armed')
})

t.test('a rule another replica tripped first is left alone: no second count, no second record', async t => {
  /** The other replica's trip lands between this one's judgement and its write. */
  class Raced extends MemoryOverrideStore {
    override async setIfAbsent(rule: string, reason: string): Promise<boolean> {
      await this.apply({ rule, reason: 'gate: the other replica' })
      return super.setIfAbsent(rule, reason)
    }
  }
  const { gate, overrides, trips, metrics } = gateOver({ buckets: [{ at: NOW, fields: critical('team', 2) }], replicas: 2, at: NOW }, new Raced())
  t.teardown(() => metrics.shutdown())
  await gate.evaluate(policy)
  t.same(trips, [])
  t.match(overrides.entries()['acme'], { reason: 'gate: the other replica' })
})
