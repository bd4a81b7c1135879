// The gate signals on /metrics: per slice, the values and verdicts the last evidence tick judged
// (the same as /status shows), for Grafana's "gate signals" panel and alerts.
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { scratchDir } from '../helpers/scratch-dir.ts'
import t from 'tap'
import { startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { parseExposition } from '../deploy/exposition.ts'
import type { ProxyStatus } from '../../src/status/schema.ts'

const path = (id: string) => `/api/v1/tenants/acme/alert-rules/${id}`

t.test('the gauges carry the value and verdict of each gate signal the fleet\'s numbers were judged on', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${oldUp.url} }
  new: { url: ${newUp.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    compare: { critical: [/threshold] }
rules:
  - name: default
    primary: old
    shadowPercent: 100
gates:
  rollbackOnCriticalDrift: { threshold: 5, windowSec: 60, minSamples: 2 }
  matchRate: { min: 0.9, minSamples: 4 }
  errorRate: { maxIncrease: 0.01, minSamples: 4 }
  p99: { maxRatio: 1.5, minSamples: 100 }
shadow: { recheckLagMs: 0 }
sync: { enabled: false }
`)
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir })
  oldUp.behaviour = { body: (req: { url: string }) => ({ id: req.url.split('/').pop(), threshold: 5 }) }
  // r-bad differs on a critical pointer; r-down fails on new.
  newUp.behaviour = {
    body: (req: { url: string }) => ({ id: req.url.split('/').pop(), threshold: req.url.endsWith('r-bad') ? 9 : 5 }),
    status: () => 200,
  }
  const scrape = async () => parseExposition(await (await fetch(`${sidecar.adminUrl}/metrics`)).text())
  const compared = (s: Awaited<ReturnType<typeof scrape>>) => s.filter(x => x.name === 'dualread_shadow_comparisons_total').reduce((n, x) => n + x.value, 0)
  for (const id of ['r1', 'r2', 'r3', 'r4', 'r-bad']) await (await sidecar.get(path(id))).arrayBuffer()
  // Shadow reads finish after the answer: new starts failing once the five were compared.
  await eventually(scrape, s => compared(s) === 5)
  newUp.behaviour = { ...newUp.behaviour, status: () => 503 }
  await (await sidecar.get(path('r-down'))).arrayBuffer()
  // Once the last tick has the six pairs: five samples, and new's failure.
  const samples = await eventually(scrape, s => s.some(x => x.name === 'dualread_gate_samples' && x.value === 5) && s.some(x => x.name === 'dualread_gate_error_rate_increase' && x.value > 0), 10_000)
  const slice = { rule: 'default', resource_type: 'alert-rule' }
  const value = (name: string, labels: Record<string, string> = slice) => samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  t.equal(value('dualread_gate_samples'), 5, 'five comparisons with two real answers; the failed pair is no sample')
  t.equal(value('dualread_gate_critical_differences'), 1)
  t.equal(value('dualread_gate_match_rate'), 0.8, '4 of 5 matched')
  t.equal(value('dualread_gate_error_rate_increase')?.toFixed(4), (1 / 6).toFixed(4), 'new failed 1 of 6 pairs, old none')
  t.equal(value('dualread_gate_p99_ratio'), undefined, 'a signal still inconclusive has no value')
  const verdict = (signal: string) => value('dualread_gate_verdict', { ...slice, signal })
  t.same(['criticalDrift', 'matchRate', 'errorRate', 'p99'].map(verdict), [2, 2, 2, 1], 'fail, fail, fail, inconclusive')

  // The same judgement /status shows for the slice.
  const status = await (await fetch(`${sidecar.adminUrl}/status`)).json() as ProxyStatus
  const judged = status.evidence.slices[0]!
  t.equal(value('dualread_gate_match_rate'), judged.signals.matchRate!.value)
  t.equal(value('dualread_gate_error_rate_increase'), judged.signals.errorRate!.value)
  t.equal(judged.signals.p99!.verdict, 'inconclusive')
  t.equal(judged.readiness, 'not-ready')
})
