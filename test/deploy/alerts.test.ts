// The chart's alerts, run the way Prometheus runs them: `helm template` renders the PrometheusRule,
// its rule groups go to Debian's `promtool test rules`, and the tests write the series, shaped and
// labelled the way a scraped dualread exports them, that make each alert fire, or not.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { stringify } from 'yaml'
import { analyzeQuery, CHART_DIR } from './dashboard.ts'
import { findHelm, render, type RuleGroup } from './helm.ts'
import { contractOf, TARGET_LABELS } from './metric-contract.ts'
import { findPromtool } from './promtool.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const helm = findHelm()
const promtool = findPromtool()
const skip = 'missing' in helm ? helm.missing : 'missing' in promtool ? promtool.missing : false

const NS = 'alerting'
const SIDECARS = 'rel-dualread-admin'
const SYNC = 'rel-dualread-sync-admin'
const ALERTS = ['DualreadCriticalDriftOnNew', 'DualreadGateRollback', 'DualreadPrimaryBreakerOpen', 'DualreadPolicyRejected',
  'DualreadSyncLagHigh', 'DualreadSyncConflicts', 'DualreadSyncErrors', 'DualreadSyncLeaderAbsent', 'DualreadCutoverAborted']

/** The rule groups of the PrometheusRule that the chart renders (release "rel" in namespace "alerting"). */
function renderedGroups(args: string[] = []): RuleGroup[] {
  if ('missing' in helm) throw new Error(helm.missing)
  const rule = render(helm, CHART_DIR, ['--set', 'prometheusRule.enabled=true', ...args]).find(m => m.kind === 'PrometheusRule')
  if (!rule?.spec?.groups) throw new Error('no PrometheusRule with groups in the rendered chart')
  return rule.spec.groups
}

const alertsOf = (groups: RuleGroup[]) => groups.flatMap(g => g.rules)

/**
 * One input series of a promtool test, labelled as Prometheus stores a scraped dualread series:
 * dualread's labels (only those the metric contract lists) plus the target's namespace, job and pod.
 */
function series(name: string, labels: Record<string, string>, values: string, target: { job?: string, pod?: string, namespace?: string } = {}) {
  const contract = contractOf(name)
  if (!contract) throw new Error(`${name} is not a metric dualread exports`)
  const unknown = Object.keys(labels).filter(l => !contract.labels.includes(l))
  if (unknown.length > 0) throw new Error(`${name} has no label ${unknown.join(', ')}`)
  const all = { ...labels, namespace: target.namespace ?? NS, job: target.job ?? SIDECARS, pod: target.pod ?? 'rel-dualread-7d9f-a' }
  return { series: `${name}{${Object.entries(all).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`, values }
}

interface Expected { labels: Record<string, string>, annotations: Record<string, string> }
interface AlertTest { at: string, alert: string, expect: Expected[] }
interface Scenario { name: string, input: Array<ReturnType<typeof series>>, tests: AlertTest[] }

/** Runs promtool's unit tests of the scenarios on the rendered rules; the test fails with promtool's own report. */
function promtoolPasses(t: Test, groups: RuleGroup[], scenarios: Scenario[]) {
  if ('missing' in promtool) throw new Error(promtool.missing)
  const dir = scratchDir(t)
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }))
  const check = promtool.run(['check', 'rules', 'rules.yaml'], dir)
  t.equal(check.code, 0, 'promtool check rules accepts the rendered rules', { output: check.output })
  writeFileSync(join(dir, 'tests.yaml'), stringify({
    rule_files: ['rules.yaml'],
    evaluation_interval: '30s',
    tests: scenarios.map(s => ({
      name: s.name,
      interval: '30s',
      input_series: s.input,
      alert_rule_test: s.tests.map(a => ({
        eval_time: a.at, alertname: a.alert,
        exp_alerts: a.expect.map(e => ({ exp_labels: e.labels, exp_annotations: e.annotations })),
      })),
    })),
  }))
  const r = promtool.run(['test', 'rules', 'tests.yaml'], dir)
  t.equal(r.code, 0, scenarios.map(s => s.name).join('; '), { output: r.output })
}

const groups = 'missing' in helm || 'missing' in promtool ? [] : renderedGroups()

t.test('the PrometheusRule is opt-in, lists the nine alerts, and uses only what dualread exports', { skip }, async t => {
  if ('missing' in helm) return
  t.notOk(render(helm, CHART_DIR).some(m => m.kind === 'PrometheusRule'), 'none by default')
  const rule = render(helm, CHART_DIR, ['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.labels.release=kube-prometheus-stack',
    '--set', 'prometheusRule.namespace=monitoring']).find(m => m.kind === 'PrometheusRule')!
  t.equal(rule.metadata.labels?.['release'], 'kube-prometheus-stack', 'labelled for the ruleSelector')
  t.equal((rule.metadata as { namespace?: string }).namespace, 'monitoring')
  t.same(alertsOf(groups).map(r => r.alert).sort(), [...ALERTS].sort())
  for (const r of alertsOf(groups)) {
    const q = analyzeQuery(r.alert, { expr: r.expr })
    t.ok(q.series.length > 0, `${r.alert} reads a dualread series`)
    for (const s of q.series) t.ok(contractOf(s), `${r.alert}: ${s} is a metric dualread exports`)
    const allowed = (series: string, label: string) => TARGET_LABELS.includes(label) || (contractOf(series)?.labels.includes(label) ?? false)
    for (const m of new Set(q.matchers.map(m => `${m.series} ${m.label}`))) {
      const [series, label] = m.split(' ') as [string, string]
      t.ok(allowed(series, label), `${r.alert}: ${series} has the label ${label}`)
    }
    for (const label of q.grouping) t.ok(q.series.every(s => allowed(s, label)), `${r.alert}: grouping by ${label}`)
    t.match(r.expr, new RegExp(`namespace="${NS}",job=~"${SIDECARS}\\|${SYNC}"`), `${r.alert} reads this release's series only`)
    t.ok(r.labels?.['severity'], `${r.alert} has a severity`)
    t.match(r.annotations, { summary: /\S/, description: /\S/ })
  }
})

t.test('critical drift on a slice served by new fires; on a slice served by old, through a fallback, or in another namespace it does not', { skip }, async t => {
  const newSlice = { rule: 'acme-on-new', resource_type: 'alert-rule' }
  const oldSlice = { rule: 'default', resource_type: 'alert-rule' }
  const description = (n: number) => `${n} critical difference(s) in 5m on alert-rule of rule acme-on-new (namespace alerting) while the new store serves reads of that slice.`
  const fired = (n: number): Expected => ({
    labels: { severity: 'critical', namespace: NS, ...newSlice },
    annotations: { summary: 'Critical drift on alert-rule of rule acme-on-new, which serves reads from new', description: description(n) },
  })
  promtoolPasses(t, groups, [{
    name: 'a pod sees its first critical differences',
    input: [
      series('dualread_requests_total', { ...newSlice, served_by: 'new', reason: 'rule', status_class: '2xx' }, '0+10x60'),
      // A counter appears at its first event: born at 2 at 10 min, nothing after.
      series('dualread_shadow_comparisons_total', { ...newSlice, result: 'critical' }, '_x20 2x40'),
      series('dualread_shadow_comparisons_total', { ...newSlice, result: 'match' }, '0+9x60'),
      // The same drift where new serves only when old fails, or not at all.
      series('dualread_requests_total', { ...oldSlice, served_by: 'old', reason: 'rule', status_class: '2xx' }, '0+10x60'),
      series('dualread_requests_total', { ...oldSlice, served_by: 'new', reason: 'fallback', status_class: '2xx' }, '0+1x60'),
      series('dualread_shadow_comparisons_total', { ...oldSlice, result: 'critical' }, '_x20 5x40'),
      // Another namespace's dualread is not this release's.
      series('dualread_requests_total', { ...newSlice, served_by: 'new', reason: 'rule', status_class: '2xx' }, '0+10x60', { namespace: 'other' }),
      series('dualread_shadow_comparisons_total', { ...newSlice, result: 'critical' }, '_x20 2x40', { namespace: 'other' }),
    ],
    tests: [
      { at: '9m', alert: 'DualreadCriticalDriftOnNew', expect: [] },
      { at: '11m', alert: 'DualreadCriticalDriftOnNew', expect: [fired(2)] },
      { at: '16m', alert: 'DualreadCriticalDriftOnNew', expect: [] },
    ],
  }, {
    name: 'a counter that has been there rises',
    input: [
      series('dualread_requests_total', { ...newSlice, served_by: 'new', reason: 'percent', status_class: '2xx' }, '0+10x60'),
      series('dualread_shadow_comparisons_total', { ...newSlice, result: 'critical' }, '1x20 1+1x3 4x40'),
    ],
    tests: [
      { at: '10m', alert: 'DualreadCriticalDriftOnNew', expect: [] },
      // 1 → 4 between 10.5 and 12 min: 3 in the window, extrapolated to the whole 5 min (3.3).
      { at: '13m', alert: 'DualreadCriticalDriftOnNew', expect: [fired(3)] },
      { at: '20m', alert: 'DualreadCriticalDriftOnNew', expect: [] },
    ],
  }])
})

t.test('a gate rollback fires for 30 minutes: the first of a pod, and a later one', { skip }, async t => {
  const fired: Expected = {
    labels: { severity: 'warning', namespace: NS, rule: 'acme-on-new' },
    annotations: {
      summary: 'A drift gate rolled rule acme-on-new back to the authority',
      description: 'The drift gate of rule acme-on-new (namespace alerting) tripped in the last 30m: its reads go to the authority until the rollback is cleared.',
    },
  }
  promtoolPasses(t, groups, [{
    name: 'gate rollbacks',
    input: [
      // Born at 1 at 5 min; a second rollback at 45.5 min.
      series('dualread_gate_rollbacks_total', { rule: 'acme-on-new' }, '_x10 1x80 2x40'),
      series('dualread_gate_rollbacks_total', { rule: 'acme-on-new' }, '_x10 1x100', { namespace: 'other' }),
    ],
    tests: [
      { at: '4m', alert: 'DualreadGateRollback', expect: [] },
      { at: '6m', alert: 'DualreadGateRollback', expect: [fired] },
      { at: '34m', alert: 'DualreadGateRollback', expect: [fired] },
      { at: '40m', alert: 'DualreadGateRollback', expect: [] },
      { at: '50m', alert: 'DualreadGateRollback', expect: [fired] },
    ],
  }])
})

t.test('a primary breaker that does not close for 2 minutes fires, counting replicas; a short blip or a shadow breaker does not', { skip }, async t => {
  // Open (2) and half-open (1) in turn from 5 min until 9.5 min, closed after.
  const failing = '0x9 2 1 2 1 2 1 2 1 2 1 0x40'
  promtoolPasses(t, groups, [{
    name: 'breakers',
    input: [
      series('dualread_breaker_state', { upstream: 'new', role: 'primary' }, failing, { pod: 'rel-dualread-7d9f-a' }),
      series('dualread_breaker_state', { upstream: 'new', role: 'primary' }, failing, { pod: 'rel-dualread-7d9f-b' }),
      series('dualread_breaker_state', { upstream: 'old', role: 'primary' }, '0x9 2 2 0x40'),
      series('dualread_breaker_state', { upstream: 'new', role: 'shadow' }, '2x60'),
    ],
    tests: [
      { at: '6m', alert: 'DualreadPrimaryBreakerOpen', expect: [] },
      {
        at: '8m', alert: 'DualreadPrimaryBreakerOpen', expect: [{
          labels: { severity: 'critical', namespace: NS, upstream: 'new' },
          annotations: {
            summary: "The new upstream's breaker is open",
            description: 'On 2 replica(s) in namespace alerting the primary breaker of new has not closed for 2m: reads it should serve fall back to the other side, or fail where the rule has fallback: false.',
          },
        }],
      },
      { at: '12m', alert: 'DualreadPrimaryBreakerOpen', expect: [] },
    ],
  }])
})

t.test('a policy file rejected for 2 minutes fires per job, counting replicas; one fixed within a minute does not', { skip }, async t => {
  promtoolPasses(t, groups, [{
    name: 'policy rejected',
    input: [
      // Rejected from 5.5 min until the file is fixed at 21 min.
      series('dualread_policy_file_rejected', {}, '0x10 1x30 0x20', { pod: 'rel-dualread-7d9f-a' }),
      series('dualread_policy_file_rejected', {}, '0x10 1x30 0x20', { pod: 'rel-dualread-7d9f-b' }),
      series('dualread_policy_file_rejected', {}, '0x10 1 1 0x30', { job: SYNC, pod: 'rel-dualread-sync-5c4b-a' }),
    ],
    tests: [
      { at: '6m', alert: 'DualreadPolicyRejected', expect: [] },
      {
        at: '8m', alert: 'DualreadPolicyRejected', expect: [{
          labels: { severity: 'warning', namespace: NS, job: SIDECARS },
          annotations: {
            summary: 'The policy file was rejected; the last good policy serves',
            description: '2 replica(s) of rel-dualread-admin (namespace alerting) rejected the policy file as it is now and serve the last good policy; an edit is not in force.',
          },
        }],
      },
      { at: '25m', alert: 'DualreadPolicyRejected', expect: [] },
    ],
  }])
})

const lagFired = (resourceType: string, value: string): Expected => ({
  labels: { severity: 'warning', namespace: NS, resource_type: resourceType },
  annotations: {
    summary: `The sync is behind on ${resourceType}`,
    description: `The oldest write to ${resourceType} that the sync has not applied is ${value} old (over 60s for 5m, namespace alerting): the other store is stale for those keys.`,
  },
})

t.test('sync lag over 60 s for 5 minutes fires; shorter or smaller lag does not', { skip }, async t => {
  promtoolPasses(t, groups, [{
    name: 'sync lag',
    input: [
      series('dualread_sync_lag_seconds', { resource_type: 'alert-rule' }, '0x20 120x30', { job: SYNC }),
      series('dualread_sync_lag_seconds', { resource_type: 'team' }, '30x50', { job: SYNC }),
      series('dualread_sync_lag_seconds', { resource_type: 'route' }, '0x20 300x5 0x25', { job: SYNC }),
    ],
    tests: [
      { at: '14m', alert: 'DualreadSyncLagHigh', expect: [] },
      { at: '16m', alert: 'DualreadSyncLagHigh', expect: [lagFired('alert-rule', '2m 0s')] },
    ],
  }])
})

t.test('sync conflicts fire for 15 minutes, also when the counter appears already at 3', { skip }, async t => {
  promtoolPasses(t, groups, [{
    name: 'sync conflicts',
    input: [series('dualread_sync_conflicts_total', { resource_type: 'team', winner: 'old' }, '_x10 3x100', { job: SYNC })],
    tests: [
      { at: '4m', alert: 'DualreadSyncConflicts', expect: [] },
      {
        at: '6m', alert: 'DualreadSyncConflicts', expect: [{
          labels: { severity: 'warning', namespace: NS, resource_type: 'team', winner: 'old' },
          annotations: {
            summary: 'Sync conflicts on team',
            description: '3 team object(s) in the last 15m had been changed in the target store outside the sync; old (the authority) won and overwrote them (namespace alerting).',
          },
        }],
      },
      { at: '30m', alert: 'DualreadSyncConflicts', expect: [] },
    ],
  }])
})

t.test('keys the sync could not apply fire per resource type and reason for 15 minutes; a sync without errors does not', { skip }, async t => {
  promtoolPasses(t, groups, [{
    name: 'sync errors',
    input: [
      // Born at 2 at 5 min (a rotated token the sync was not given), one more at 10 min.
      series('dualread_sync_errors_total', { resource_type: 'team', reason: 'credentials' }, '_x10 2x10 3x80', { job: SYNC }),
      series('dualread_sync_applied_total', { resource_type: 'alert-rule', op: 'upsert' }, '0+5x100', { job: SYNC }),
    ],
    tests: [
      { at: '4m', alert: 'DualreadSyncErrors', expect: [] },
      {
        at: '12m', alert: 'DualreadSyncErrors', expect: [{
          labels: { severity: 'warning', namespace: NS, resource_type: 'team', reason: 'credentials' },
          annotations: {
            summary: 'The sync cannot apply team objects (credentials)',
            description: '3 team key(s) in the last 15m could not be applied to the target store (credentials, namespace alerting): they differ between the stores until a later pass lands them.',
          },
        }],
      },
      { at: '40m', alert: 'DualreadSyncErrors', expect: [] },
    ],
  }])
})

t.test('sync leader absent: none leads for 5 minutes, or no sync is scraped at all; a leader with a standby is fine', { skip }, async t => {
  const annotations = {
    summary: 'No dualread sync leads',
    description: 'For 5m no dualread sync process in namespace alerting has held the lease (or none is scraped): writes are not copied to the other store, and no write cutover can run.',
  }
  promtoolPasses(t, groups, [{
    name: 'a leader and a standby',
    input: [
      series('dualread_sync_leader', {}, '1x60', { job: SYNC, pod: 'rel-dualread-sync-5c4b-a' }),
      series('dualread_sync_leader', {}, '0x60', { job: SYNC, pod: 'rel-dualread-sync-5c4b-b' }),
    ],
    tests: [{ at: '20m', alert: 'DualreadSyncLeaderAbsent', expect: [] }],
  }, {
    name: 'the only sync process loses the lease at 10 min',
    input: [series('dualread_sync_leader', {}, '1x20 0x40', { job: SYNC })],
    tests: [
      { at: '14m', alert: 'DualreadSyncLeaderAbsent', expect: [] },
      { at: '16m', alert: 'DualreadSyncLeaderAbsent', expect: [{ labels: { severity: 'critical', namespace: NS, job: SYNC }, annotations }] },
    ],
  }, {
    name: 'only the sidecars are scraped',
    input: [series('dualread_policy_file_rejected', {}, '0x60')],
    tests: [
      { at: '4m', alert: 'DualreadSyncLeaderAbsent', expect: [] },
      { at: '6m', alert: 'DualreadSyncLeaderAbsent', expect: [{ labels: { severity: 'critical', namespace: NS }, annotations }] },
    ],
  }])
})

t.test('an aborted or refused cutover fires for 30 minutes, a switch does not', { skip }, async t => {
  const fired = (result: string, to: string): Expected => ({
    labels: { severity: 'warning', namespace: NS, result, to },
    annotations: {
      summary: `A write cutover to ${to} was ${result}`,
      description: `In the last 30m a write cutover to ${to} was ${result} (namespace alerting): writes stay on the authority in force.`,
    },
  })
  const sync = { job: SYNC, pod: 'rel-dualread-sync-5c4b-a' }
  promtoolPasses(t, groups, [{
    name: 'cutovers',
    input: [
      // The sync declares its cutover counters at 0; an abort at 10 min, a refusal at 20 min, a switch at 15 min.
      series('dualread_cutovers_total', { result: 'aborted', to: 'new' }, '0x20 1x100', sync),
      series('dualread_cutovers_total', { result: 'refused', to: 'new' }, '0x40 1x80', sync),
      series('dualread_cutovers_total', { result: 'switched', to: 'new' }, '0x30 1x90', sync),
      // A restarted sync aborts the run its predecessor left behind before its first scrape.
      series('dualread_cutovers_total', { result: 'aborted', to: 'old' }, '_x100 1x20', { job: SYNC, pod: 'rel-dualread-sync-5c4b-b' }),
    ],
    tests: [
      { at: '9m', alert: 'DualreadCutoverAborted', expect: [] },
      { at: '11m', alert: 'DualreadCutoverAborted', expect: [fired('aborted', 'new')] },
      { at: '21m', alert: 'DualreadCutoverAborted', expect: [fired('aborted', 'new'), fired('refused', 'new')] },
      { at: '45m', alert: 'DualreadCutoverAborted', expect: [fired('refused', 'new')] },
      { at: '51m', alert: 'DualreadCutoverAborted', expect: [fired('aborted', 'old')] },
    ],
  }])
})

t.test('values reach the rules: thresholds, a selector of your own, alert labels, runbook links, alerts turned off', { skip }, async t => {
  if ('missing' in helm) return
  const tuned = renderedGroups(['--set', 'prometheusRule.alerts.syncLag.seconds=100', '--set', 'prometheusRule.alerts.syncLag.for=1m',
    '--set', 'prometheusRule.selector=job="dualread"', '--set', 'prometheusRule.alertLabels.team=platform',
    '--set', 'prometheusRule.runbookUrl=https://git.example/dualread/README.md', '--set', 'prometheusRule.alerts.gateRollback.enabled=false'])
  t.notOk(alertsOf(tuned).some(r => r.alert === 'DualreadGateRollback'), 'gateRollback.enabled=false drops it')
  t.equal(alertsOf(tuned).find(r => r.alert === 'DualreadSyncLagHigh')?.annotations?.['runbook_url'], 'https://git.example/dualread/README.md#dualreadsynclaghigh')
  promtoolPasses(t, tuned, [{
    name: 'tuned sync lag',
    input: [
      series('dualread_sync_lag_seconds', { resource_type: 'alert-rule' }, '0x20 120x30', { job: 'dualread', namespace: 'elsewhere' }),
      series('dualread_sync_lag_seconds', { resource_type: 'team' }, '90x50', { job: 'dualread', namespace: 'elsewhere' }),
    ],
    tests: [{
      at: '12m', alert: 'DualreadSyncLagHigh', expect: [{
        labels: { severity: 'warning', team: 'platform', namespace: 'elsewhere', resource_type: 'alert-rule' },
        annotations: {
          summary: 'The sync is behind on alert-rule',
          description: 'The oldest write to alert-rule that the sync has not applied is 2m 0s old (over 100s for 1m, namespace elsewhere): the other store is stale for those keys.',
          runbook_url: 'https://git.example/dualread/README.md#dualreadsynclaghigh',
        },
      }],
    }],
  }])
  t.notOk(alertsOf(renderedGroups(['--set', 'sync.enabled=false'])).some(r => r.alert === 'DualreadSyncLeaderAbsent'), 'no leader alert without the sync')
})

t.test('the README has a runbook for every alert', async t => {
  const readme = readFileSync(join(CHART_DIR, '../../README.md'), 'utf8')
  const section = readme.split('\n## Alerts\n')[1]?.split('\n## ')[0] ?? ''
  const runbooks = new Map(section.split('\n### ').slice(1).map(part => [part.slice(0, part.indexOf('\n')), part]))
  t.same([...runbooks.keys()].sort(), [...ALERTS].sort(), 'one heading per alert in "Alerts"')
  for (const alert of ALERTS) t.match(runbooks.get(alert), /^\S+\n\nSeverity \w+\.[\s\S]*\n\*\*Runbook\.\*\* \S/, `${alert}: what it means, and a runbook`)
})
