// The gate gauges are what the last judgement had, series for series: a signal gone back to
// inconclusive, or a slice that left the window, leaves /metrics instead of showing its last number.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Metrics } from '../../src/telemetry/metrics.ts'
import type { SliceVerdict } from '../../src/status/schema.ts'
import { parseExposition } from '../deploy/exposition.ts'

const verdict = (matchRate: number | null): SliceVerdict => ({
  rule: 'acme', resourceType: 'team', readiness: 'not-ready', reason: 'r', trips: false,
  signals: {
    criticalDrift: { verdict: 'pass', trips: false, value: 0, reason: 'none' },
    matchRate: matchRate === null ? { verdict: 'inconclusive', trips: false, value: null, reason: 'few' } : { verdict: 'fail', trips: true, value: matchRate, reason: 'low' },
  },
  window: { seconds: 60, samples: 7, results: { match: 7, cosmetic: 0, critical: 0, lag: 0 }, errors: { old: 0, new: 0 }, p99Ms: { old: null, new: null } },
})

t.test('each scrape shows the last judgement and nothing older', async t => {
  const metrics = new Metrics()
  metrics.observePolicyGeneration(() => 1)
  let judged: SliceVerdict[] = [verdict(0.5)]
  metrics.observeGateVerdicts(() => judged)
  const server = createServer((req, res) => metrics.handle(req, res))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.close(); await metrics.shutdown() })
  const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text())
    .filter(s => s.name.startsWith('dualread_gate_')).map(s => `${s.name}${s.labels['signal'] ? `{${s.labels['signal']}}` : ''} ${s.value}`).sort()

  t.same(await scrape(), [
    'dualread_gate_critical_differences 0', 'dualread_gate_match_rate 0.5', 'dualread_gate_samples 7',
    'dualread_gate_verdict{criticalDrift} 0', 'dualread_gate_verdict{matchRate} 2',
  ])
  judged = [verdict(null)]
  t.same(await scrape(), ['dualread_gate_critical_differences 0', 'dualread_gate_samples 7', 'dualread_gate_verdict{criticalDrift} 0', 'dualread_gate_verdict{matchRate} 1'], 'inconclusive: the match rate leaves, its verdict says why')
  judged = []
  t.same(await scrape(), [], 'a slice no longer judged leaves every gauge')
})
