// Every metric dualread exports, declared once: name, help text and labels live here only.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Attributes, Counter, Histogram, ObservableResult } from '@opentelemetry/api'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import type { Side } from '../policy/schema.ts'
import type { SliceVerdict } from '../status/schema.ts'
import { GateGauges } from './gate-gauges.ts'

/** Latency buckets in seconds, from sub-millisecond loopback calls to timeouts. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export const BREAKER_STATE = { closed: 0, 'half-open': 1, open: 2 } as const
export type BreakerStateName = keyof typeof BREAKER_STATE

export interface BreakerReading { upstream: string, role: string, state: BreakerStateName }

/**
 * The process's metrics. Gauges read live state through callbacks registered with `observe*`,
 * so nothing has to remember to update them.
 */
export interface TrafficRow { rule: string, resourceType: string, old: number, new: number, fallbacks: number, errors: number }

export class Metrics {
  readonly upstreamDuration: Histogram
  readonly fallbacks: Counter
  readonly queueTimeouts: Counter
  readonly policyReloads: Counter
  readonly gateRollbacks: Counter
  readonly shadowComparisons: Counter
  readonly shadowSkipped: Counter
  readonly driftPointers: Counter
  readonly shadowReferences: Counter
  readonly syncApplied: Counter
  readonly syncConflicts: Counter
  readonly syncErrors: Counter
  readonly writeHold: Histogram
  readonly cutovers: Counter
  #syncLag: () => Array<{ resourceType: string, seconds: number }> = () => []
  #syncProgress: () => Array<{ resourceType: string, ratio: number }> = () => []
  #exporter: PrometheusExporter
  #provider: MeterProvider
  /** Request counts kept as plain numbers: the per-request cost is one Map lookup, not an attribute hash. */
  #requests = new Map<string, { attributes: Attributes, servedBy: Side, value: number }>()
  #breakerSources = new Set<() => BreakerReading[]>()
  #generation!: () => number
  #policyRejected: () => boolean = () => false
  #syncLeader: (() => boolean) | undefined
  #gates = new GateGauges()

  constructor() {
    // The gate gauges are produced at each scrape from the last judgement (see gate-gauges.ts).
    this.#exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true, metricProducers: [this.#gates] })
    this.#provider = new MeterProvider({ readers: [this.#exporter] })
    const meter = this.#provider.getMeter('dualread')
    meter.createObservableCounter('dualread_requests_total', {
      description: 'Requests answered by the proxy, by rule, resource type, serving side, reason and status class (2xx, 4xx, ...)',
    }).addCallback(result => {
      for (const s of this.#requests.values()) result.observe(s.value, s.attributes)
    })
    this.upstreamDuration = meter.createHistogram('dualread_upstream_request_duration_seconds', {
      description: 'Time to response headers from an upstream, by upstream and role (primary, shadow, sync)',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    })
    this.fallbacks = meter.createCounter('dualread_fallbacks_total', {
      description: 'Reads served by the other side because the chosen side failed, by from and to',
    })
    this.queueTimeouts = meter.createCounter('dualread_upstream_queue_timeouts_total', {
      description: 'Requests refused for want of a free connection to the upstream, by upstream and pool (reads, writes, sync): a primary read, write or sync call that waited queueTimeoutMs, or a shadow read that found none free',
    })
    this.policyReloads = meter.createCounter('dualread_policy_reloads_total', {
      description: 'Policy reload attempts, by result (applied, rejected)',
    })
    this.gateRollbacks = meter.createCounter('dualread_gate_rollbacks_total', {
      description: 'Slices flipped back to the authority by a drift gate, by rule',
    })
    this.shadowComparisons = meter.createCounter('dualread_shadow_comparisons_total', {
      description: 'Shadow comparisons, by rule, resource type and result (match, cosmetic, critical, lag, error)',
    })
    this.shadowSkipped = meter.createCounter('dualread_shadow_skipped_total', {
      description: 'Sampled reads not shadow-compared, by reason (max_in_flight, body_too_large, breaker_open, primary_failed, no_body, connections_busy)',
    })
    this.driftPointers = meter.createCounter('dualread_drift_pointers_total', {
      description: 'Differing JSON Pointers (templated, e.g. /items/*/enabled), by resource type and severity',
    })
    this.shadowReferences = meter.createCounter('dualread_shadow_references_total', {
      description: 'Objects named by shadow-compared answers (resource references), looked up on both sides, by resource type, templated pointer and result (resolved, broken: on one side only, dangling: on neither, unresolved: a side could not tell)',
    })
    this.syncApplied = meter.createCounter('dualread_sync_applied_total', {
      description: 'Keys the sync applied to the target, by resource type and op (upsert, delete, unchanged)',
    })
    this.syncConflicts = meter.createCounter('dualread_sync_conflicts_total', {
      description: 'Keys whose target had been changed outside the sync; the winner is the authority, by resource type',
    })
    this.syncErrors = meter.createCounter('dualread_sync_errors_total', {
      description: 'Keys the sync could not apply (a later pass retries them), by resource type and reason (credentials, conflicting_writer, rejected, upstream_error, unreachable, other)',
    })
    this.writeHold = meter.createHistogram('dualread_write_hold_seconds', {
      description: 'How long writes waited while a cutover held them (released or refused)',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    })
    this.cutovers = meter.createCounter('dualread_cutovers_total', {
      description: 'Write cutovers the sync leader ran, by result (switched, aborted, refused) and target authority (to)',
    })
    meter.createObservableGauge('dualread_sync_lag_seconds', {
      description: 'Age of the oldest change from the proxy that the sync has not applied yet, by resource type',
    }).addCallback(result => { for (const l of this.#syncLag()) result.observe(l.seconds, { resource_type: l.resourceType }) })
    meter.createObservableGauge('dualread_sync_backfill_ratio', {
      description: 'Share of tenants done in the current sync pass, by resource type (1 when the pass is complete)',
    }).addCallback(result => { for (const p of this.#syncProgress()) result.observe(p.ratio, { resource_type: p.resourceType }) })
    meter.createObservableGauge('dualread_breaker_state', {
      description: 'Circuit breaker state per upstream and role: 0 closed, 1 half-open, 2 open',
    }).addCallback((result: ObservableResult<Attributes>) => {
      for (const source of this.#breakerSources) {
        for (const b of source()) result.observe(BREAKER_STATE[b.state], { upstream: b.upstream, role: b.role })
      }
    })
    meter.createObservableGauge('dualread_policy_generation', {
      description: 'Generation of the policy in force; rises by one on every applied reload',
    }).addCallback(result => result.observe(this.#generation()))
    // A gauge, not only the rejection counter: an alert on it lasts as long as the broken file
    // does, including a restart that serves the persisted last good policy.
    meter.createObservableGauge('dualread_policy_file_rejected', {
      description: 'Whether the policy file as it is now was rejected (1: the last good policy serves instead; 0: the file is in force)',
    }).addCallback(result => result.observe(this.#policyRejected() ? 1 : 0))
    meter.createObservableGauge('dualread_sync_leader', {
      description: 'Whether this sync process holds the single-writer lease (1) or stands by (0); exported by `dualread sync` only',
    }).addCallback(result => { if (this.#syncLeader) result.observe(this.#syncLeader() ? 1 : 0) })
  }

  /**
   * The gate signals as the last evidence tick judged them: read when scraped, from verdicts
   * computed once a second off the read path.
   */
  observeGateVerdicts(read: () => readonly SliceVerdict[]): void {
    this.#gates.observe(read)
  }

  countRequest(rule: string, resourceType: string, servedBy: Side, reason: string, status: number): void {
    const status_class = statusClass(status)
    const key = `${rule}\u0000${resourceType}\u0000${servedBy}\u0000${reason}\u0000${status_class}`
    const series = this.#requests.get(key)
    if (series) series.value++
    else this.#requests.set(key, { attributes: { rule, resource_type: resourceType, served_by: servedBy, reason, status_class }, servedBy, value: 1 })
  }

  /** Reads served so far, per rule and resource type: by which side, how many fell back, how many failed (5xx). */
  trafficByRule(): TrafficRow[] {
    const out = new Map<string, TrafficRow>()
    for (const { attributes: a, servedBy, value } of this.#requests.values()) {
      const key = `${String(a['rule'])}\u0000${String(a['resource_type'])}`
      let row = out.get(key)
      if (!row) out.set(key, row = { rule: String(a['rule']), resourceType: String(a['resource_type']), old: 0, new: 0, fallbacks: 0, errors: 0 })
      row[servedBy] += value
      if (a['reason'] === 'fallback') row.fallbacks += value
      if (a['status_class'] === '5xx') row.errors += value
    }
    return [...out.values()]
  }

  /** Registers a live source of breaker states; returns a function that removes it. */
  observeBreakers(source: () => BreakerReading[]): () => void {
    this.#breakerSources.add(source)
    return () => this.#breakerSources.delete(source)
  }

  observeSyncLag(read: () => Array<{ resourceType: string, seconds: number }>): void {
    this.#syncLag = read
  }

  observeSyncProgress(read: () => Array<{ resourceType: string, ratio: number }>): void {
    this.#syncProgress = read
  }

  observePolicyGeneration(read: () => number): void {
    this.#generation = read
  }

  observePolicyRejected(read: () => boolean): void {
    this.#policyRejected = read
  }

  observeSyncLeader(read: () => boolean): void {
    this.#syncLeader = read
  }

  /**
   * Starts the cutover counters at 0 for every result and target, so the first abort is an
   * increase that an alert sees rather than a series that appears already at 1.
   */
  declareCutovers(): void {
    for (const result of ['switched', 'aborted', 'refused']) for (const to of ['old', 'new']) this.cutovers.add(0, { result, to })
  }

  /** Serves the Prometheus text format. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#exporter.getMetricsRequestHandler(req, res)
  }

  async shutdown(): Promise<void> {
    await this.#provider.shutdown()
  }
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`
}
