// The gate signals as Prometheus gauges, per slice (rule × resource type): built at each scrape
// from the verdicts of the last evidence tick, not kept by the SDK. An SDK gauge keeps every
// series it ever saw at its last value, so a slice that left the window, or a signal gone back
// to inconclusive, would go on showing a number that nobody judges any more; here a series is
// exactly what the last judgement had.
import { ValueType, type Attributes } from '@opentelemetry/api'
import { hrTime } from '@opentelemetry/core'
import { emptyResource } from '@opentelemetry/resources'
import { AggregationTemporality, DataPointType, type CollectionResult, type GaugeMetricData, type MetricProducer } from '@opentelemetry/sdk-metrics'
import type { SliceVerdict } from '../status/schema.ts'

/** A signal's verdict as a number: the worst over a slice's signals is its readiness (0 ready, 1 inconclusive, 2 not ready). */
export const GATE_VERDICT = { pass: 0, inconclusive: 1, fail: 2 } as const

type Signal = keyof SliceVerdict['signals']

/** The gauges of the value each signal judged; criticalDrift's is a count, the others a rate or a ratio. */
const VALUE_GAUGES: ReadonlyArray<[Signal, string, string]> = [
  ['criticalDrift', 'dualread_gate_critical_differences', 'Critical differences in the criticalDrift window, per rule and resource type (the fleet\'s numbers)'],
  ['matchRate', 'dualread_gate_match_rate', 'Share of comparisons with two real answers that matched (lag counts as a match) in the matchRate window, per rule and resource type (the fleet\'s numbers; absent while inconclusive)'],
  ['errorRate', 'dualread_gate_error_rate_increase', 'New\'s error rate minus old\'s among shadow pairs in the errorRate window, per rule and resource type (the fleet\'s numbers; absent while inconclusive)'],
  ['p99', 'dualread_gate_p99_ratio', 'New\'s p99 latency over old\'s in the p99 window, per rule and resource type (the fleet\'s numbers; absent while inconclusive)'],
]

export class GateGauges implements MetricProducer {
  #read: () => readonly SliceVerdict[] = () => []
  readonly #since = hrTime()

  /** Where the verdicts come from; read at each scrape. */
  observe(read: () => readonly SliceVerdict[]): void {
    this.#read = read
  }

  async collect(): Promise<CollectionResult> {
    const verdicts = this.#read()
    const slice = (v: SliceVerdict): Attributes => ({ rule: v.rule, resource_type: v.resourceType })
    const metrics = [
      ...VALUE_GAUGES.map(([signal, name, description]) => this.#gauge(name, description, verdicts.flatMap(v => {
        const value = v.signals[signal]?.value
        return value === null || value === undefined ? [] : [{ value, attributes: slice(v) }]
      }))),
      this.#gauge('dualread_gate_samples', 'Comparisons with two real answers in the criticalDrift window (the samples a gate counts), per rule and resource type (the fleet\'s numbers)',
        verdicts.map(v => ({ value: v.window.samples, attributes: slice(v) }))),
      this.#gauge('dualread_gate_verdict', 'Each gate signal\'s verdict per rule and resource type: 0 pass, 1 inconclusive (too few samples), 2 fail; the max over signals is the slice\'s readiness to promote',
        verdicts.flatMap(v => Object.entries(v.signals).map(([signal, s]) => ({ value: GATE_VERDICT[s.verdict], attributes: { ...slice(v), signal } })))),
    ]
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: { name: 'dualread' }, metrics }] }, errors: [] }
  }

  #gauge(name: string, description: string, points: Array<{ value: number, attributes: Attributes }>): GaugeMetricData {
    const now = hrTime()
    return {
      descriptor: { name, description, unit: '', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints: points.map(p => ({ startTime: this.#since, endTime: now, attributes: p.attributes, value: p.value })),
    }
  }
}
