// The Prometheus names and labels that SPEC.md ("Admin endpoints and telemetry") promises, and
// the few the README adds (cutovers, the policy file's rejection, sync leadership, the gate signals,
// referenced objects looked up by shadow comparisons).
// The Grafana test checks the dashboard against this table, and the table against what a
// running dualread really exports; the alert test checks the chart's rules against it; so none
// can drift from the contract unnoticed.

/** Metric name (as exported, with `_total` on counters) → the labels it may carry. */
export const METRIC_LABELS: Readonly<Record<string, readonly string[]>> = {
  dualread_requests_total: ['rule', 'resource_type', 'served_by', 'reason', 'status_class'],
  dualread_upstream_request_duration_seconds: ['upstream', 'role'],
  dualread_shadow_comparisons_total: ['rule', 'resource_type', 'result'],
  dualread_shadow_skipped_total: ['reason'],
  dualread_drift_pointers_total: ['resource_type', 'pointer', 'severity'],
  dualread_shadow_references_total: ['resource_type', 'pointer', 'result'],
  dualread_breaker_state: ['upstream', 'role'],
  dualread_fallbacks_total: ['from', 'to'],
  dualread_policy_generation: [],
  dualread_policy_reloads_total: ['result'],
  dualread_policy_file_rejected: [],
  dualread_gate_rollbacks_total: ['rule'],
  dualread_gate_samples: ['rule', 'resource_type'],
  dualread_gate_critical_differences: ['rule', 'resource_type'],
  dualread_gate_match_rate: ['rule', 'resource_type'],
  dualread_gate_error_rate_increase: ['rule', 'resource_type'],
  dualread_gate_p99_ratio: ['rule', 'resource_type'],
  dualread_gate_verdict: ['rule', 'resource_type', 'signal'],
  dualread_cutovers_total: ['result', 'to'],
  dualread_sync_applied_total: ['resource_type', 'op'],
  dualread_sync_conflicts_total: ['resource_type', 'winner'],
  dualread_sync_errors_total: ['resource_type', 'reason'],
  dualread_sync_lag_seconds: ['resource_type'],
  dualread_sync_backfill_ratio: ['resource_type'],
  dualread_sync_leader: [],
}

/**
 * Labels Prometheus adds to every series it scrapes through the chart's ServiceMonitor (the
 * target's namespace, job = the admin Service, pod); dualread itself never exports them.
 */
export const TARGET_LABELS: readonly string[] = ['namespace', 'job', 'pod']

export const HISTOGRAMS: ReadonlySet<string> = new Set(['dualread_upstream_request_duration_seconds'])
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'] as const

/**
 * The contract entry behind an exported series name: a histogram's `_bucket`, `_sum` and
 * `_count` belong to the histogram, and `_bucket` also carries `le`. Undefined for a name the
 * contract does not know.
 */
export function contractOf(series: string): { metric: string, labels: readonly string[] } | undefined {
  const direct = METRIC_LABELS[series]
  if (direct && !HISTOGRAMS.has(series)) return { metric: series, labels: direct }
  for (const suffix of HISTOGRAM_SERIES) {
    const base = series.endsWith(suffix) ? series.slice(0, -suffix.length) : undefined
    if (base !== undefined && HISTOGRAMS.has(base)) {
      return { metric: base, labels: suffix === '_bucket' ? [...METRIC_LABELS[base]!, 'le'] : METRIC_LABELS[base]! }
    }
  }
  return undefined
}
