// The Grafana dashboard the chart ships queries only what dualread really exports: every series
// in every panel is scraped from a running `dualread proxy` and `dualread sync`, started the way
// the chart starts them (policy and Redis from the environment, admin off loopback behind the
// bearer token that the ServiceMonitor sends).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { seededId, startReferenceApi } from '../../src/reference/index.ts'
import { startProcess } from '../helpers/process.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { eventually } from '../helpers/sidecar.ts'
import { dashboardQueries, dataPanels, loadDashboard } from './dashboard.ts'
import { parseExposition, seriesLabels } from './exposition.ts'
import { contractOf, METRIC_LABELS, TARGET_LABELS } from './metric-contract.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const dashboard = loadDashboard()
const queries = dashboardQueries(dashboard)

t.test('every panel has a title and at least one query, on the ${datasource} variable', async t => {
  t.match(dashboard.templating.list.find(v => v.name === 'datasource'), { type: 'datasource', query: 'prometheus' }, 'a Prometheus datasource variable')
  const panels = dataPanels(dashboard)
  t.ok(panels.length >= 15, `${panels.length} panels`)
  for (const p of panels) {
    t.match(p.title, /\S/, `panel ${p.id} has a title`)
    t.ok((p.targets ?? []).length > 0, `"${p.title}" has a query`)
    t.equal(p.datasource?.uid, '${datasource}', `"${p.title}" uses the datasource variable`)
    for (const target of p.targets ?? []) {
      t.match(target.expr, /\bdualread_/, `"${p.title}" queries a dualread metric`)
      t.equal(target.datasource?.uid, '${datasource}', `"${p.title}" ${target.refId} uses the datasource variable`)
    }
  }
  t.equal(new Set(panels.map(p => p.id)).size, panels.length, 'panel ids are unique')
})

t.test('the dashboard covers every metric of the spec', async t => {
  const queried = new Set(queries.flatMap(q => q.series.map(s => contractOf(s)?.metric ?? s)))
  t.same([...queried].sort(), Object.keys(METRIC_LABELS).sort())
})

t.test('queries use only the labels the spec lists for each metric, and the scrape target\'s namespace, job and pod', async t => {
  const isTarget = (label: string) => TARGET_LABELS.includes(label)
  for (const q of queries) {
    t.ok(q.series.length > 0, `"${q.panel}" selects a series`)
    const contracts = q.series.map(s => ({ series: s, contract: contractOf(s) }))
    for (const { series, contract } of contracts) t.ok(contract, `"${q.panel}": ${series} is a metric of the spec`)
    const allowedEverywhere = (label: string) => isTarget(label) || contracts.every(c => c.contract?.labels.includes(label))
    for (const m of q.matchers) t.ok(isTarget(m.label) || contractOf(m.series)?.labels.includes(m.label), `"${q.panel}": ${m.series} has the label ${m.label}`)
    for (const label of q.grouping) t.ok(allowedEverywhere(label), `"${q.panel}": grouping by ${label} (${q.expr})`)
    for (const label of q.legend) t.ok(q.grouping.includes(label), `"${q.panel}": the legend's {{${label}}} survives the aggregation`)
  }
})

t.test('namespace, job and pod variables narrow every query, All by default', async t => {
  const variables = dashboard.templating.list
  for (const name of ['namespace', 'job', 'pod']) {
    const v = variables.find(v => v.name === name)
    t.match(v, { type: 'query', includeAll: true, allValue: '.*', multi: true }, `a ${name} variable`)
    const query = typeof v?.query === 'object' ? v.query.query : v?.query
    t.match(query, new RegExp(`^label_values\\(dualread_policy_generation(\\{.*\\})?, ${name}\\)$`), `${name}: the values a running dualread's series carry`)
  }
  t.match(variables.find(v => v.name === 'pod')?.query, { query: /namespace=~"\$namespace", job=~"\$job"/ }, 'pods of the chosen namespace and job')
  for (const q of queries) {
    for (const s of q.selections) t.match(s.matchers, /^\{namespace=~"\$namespace", job=~"\$job", pod=~"\$pod"/, `"${q.panel}": ${s.series} is narrowed by the variables`)
  }
})

t.test('a panel shows the gate signals per slice as the gates judged them: samples, critical drift, match rate, error-rate increase, p99 ratio, readiness', async t => {
  const panels = dataPanels(dashboard)
  const gate = panels.find(p => p.title === 'Gate signals per slice (as the gates judge them)')
  const exprs = (gate?.targets ?? []).map(t => t.expr ?? '')
  // Every replica exports the fleet's numbers: one per slice, the worst if they ever differ (never a sum).
  t.match(exprs, [/^max by \(rule, resource_type\) \(dualread_gate_samples\{/, /^max by \(rule, resource_type\) \(dualread_gate_critical_differences\{/,
    /^min by \(rule, resource_type\) \(dualread_gate_match_rate\{/, /^max by \(rule, resource_type\) \(dualread_gate_error_rate_increase\{/,
    /^max by \(rule, resource_type\) \(dualread_gate_p99_ratio\{/, /^max by \(rule, resource_type\) \(dualread_gate_verdict\{/])
  t.equal(exprs.length, 6)
  const p99 = panels.find(p => p.title === 'p99 new ÷ old (all slices)')
  t.match(p99?.targets?.[0]?.expr, /histogram_quantile\(0\.99, .*upstream="new".*\/ histogram_quantile\(0\.99, .*upstream="old"/)
})

/** Starts a real dualread command with the chart's environment; resolves to its admin URL. */
async function startDualread(t: Test, args: string[], env: Record<string, string>, ready: string): Promise<{ adminUrl: string, stop: () => Promise<void>, line: { proxy?: string, admin: string } }> {
  const p = startProcess(args, env, ready)
  t.teardown(() => p.kill())
  const line = await p.listening
  const port = line.admin.slice(line.admin.lastIndexOf(':') + 1)
  return {
    adminUrl: `http://127.0.0.1:${port}`,
    line,
    async stop() {
      p.child.kill('SIGTERM')
      const [code] = await p.exited
      t.equal(code, 0, `${args[0]} stops cleanly on SIGTERM`)
    },
  }
}

t.test('a running proxy and sync export every series the dashboard queries, with the spec\'s labels only', async t => {
  const TOKEN = 'grafana-test-token'
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'grafana')
  const old = await startReferenceApi({ seed: { tenants: ['acme', 'globex'], perType: 3 } })
  // The new store's hazards: it rewrites durations (cosmetic drift) and drops a field (critical drift).
  // And it refuses one team the sync copies (a validation rule old does not have): a sync error.
  const refused = `/api/v1/tenants/acme/teams/${seededId('team', 2)}`
  const neu = await startReferenceApi({
    flavour: { normalizeDurations: true, dropField: 'escalationPolicyId' },
    onRequest: req => req.method === 'PUT' && req.url === refused ? { status: 422, body: { error: 'invalid', detail: 'onCall must name a schedule' } } : undefined,
  })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  // Someone wrote to the new store behind the sync's back: its first pass meets a conflict.
  neu.store.put('team', 'globex', seededId('team', 1), { name: 'edited on new', members: [], onCall: 'nobody' })

  // As in the chart: the policy in a directory of its own, and sync.state a placeholder that REDIS_URL overrides.
  mkdirSync(join(dir, 'policy'))
  const policyFile = join(dir, 'policy', 'policy.yaml')
  const policy = `version: 1
migration: ${migration}
upstreams:
  old: { url: ${old.url}, timeoutMs: 2000 }
  new: { url: ${neu.url}, timeoutMs: 2000 }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    version: /version
    compare: { ignore: [/updatedAt], critical: [/enabled, /threshold, /escalationPolicyId] }
    references: { /escalationPolicyId: escalation-policy }
  - type: escalation-policy
    collection: /api/v1/tenants/:tenant/escalation-policies
    item: /api/v1/tenants/:tenant/escalation-policies/:id
    version: /version
    compare: { ignore: [/updatedAt] }
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    version: /version
    compare: { ignore: [/updatedAt], critical: [/members] }
rules:
  - name: acme-on-new
    match: { tenants: [acme] }
    primary: new
    shadowPercent: 100
  - name: default
    primary: old
    shadowPercent: 100
gates:
  rollbackOnCriticalDrift: { enabled: true, threshold: 1, windowSec: 60, minSamples: 1 }
  matchRate: { min: 0.5, minSamples: 1 }
  errorRate: { maxIncrease: 0.5, minSamples: 1 }
  p99: { maxRatio: 100, minSamples: 1 }
shadow: { recheckLagMs: 0 }
sync:
  state: redis://redis.invalid:6379/0
  fullScanIntervalSec: 3600
  leaseTtlMs: 2000
  tenants: { list: /api/v1/tenants }
`
  writeFileSync(policyFile, policy)
  const env = { DUALREAD_POLICY: policyFile, REDIS_URL, DUALREAD_ADMIN_TOKEN: TOKEN }
  const scrape = async (adminUrl: string) => (await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()

  const sync = await startDualread(t, ['sync', '--admin', '0.0.0.0:0'], { ...env, DUALREAD_STATE_DIR: join(dir, 'sync') }, 'dualread sync started')
  const proxy = await startDualread(t, ['proxy', '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0'], { ...env, DUALREAD_STATE_DIR: join(dir, 'proxy') }, 'dualread proxy listening')
  const proxyUrl = `http://${proxy.line.proxy!}`

  t.equal((await fetch(`${proxy.adminUrl}/metrics`)).status, 401, 'off loopback, /metrics needs the bearer token (the ServiceMonitor sends it)')
  t.equal((await fetch(`${proxy.adminUrl}/healthz`)).status, 200, '/healthz needs no token (the kubelet probes it)')
  t.equal((await fetch(`${sync.adminUrl}/readyz`)).status, 200, 'nor does /readyz')

  // The backfill copies old to new, and wins the conflict for the authority.
  const synced = await eventually(() => scrape(sync.adminUrl), text => /dualread_sync_conflicts_total\{/.test(text) && /dualread_sync_backfill_ratio\{resource_type="team"\} 1/.test(text), 15_000)
  t.match(synced, /dualread_sync_conflicts_total\{[^}]*winner="old"/, 'the conflict went to the authority')
  t.match(synced, /^dualread_sync_errors_total\{resource_type="team",reason="rejected"\} [1-9]/m, 'the team new refused is a sync error')
  t.ok(neu.store.get('alert-rule', 'globex', seededId('alert-rule', 1)), 'the new store has the backfilled rules')

  const read = async (path: string) => {
    const res = await fetch(proxyUrl + path)
    await res.arrayBuffer()
    return res
  }
  // Shadowed reads of a slice served by old: drift (the dropped field, the rewritten duration).
  await read(`/api/v1/tenants/globex/alert-rules/${seededId('alert-rule', 1)}`)
  // A slice served by new with critical drift: the gate rolls it back to the authority.
  t.equal((await read(`/api/v1/tenants/acme/alert-rules/${seededId('alert-rule', 1)}`)).headers.get('x-dualread-served-by'), 'new')
  await eventually(() => scrape(proxy.adminUrl), text => text.includes('dualread_gate_rollbacks_total{'))
  // The serving side fails: the read falls back to new, and its shadow is skipped.
  old.setFlavour({ errorRate: 1 })
  t.equal((await read(`/api/v1/tenants/globex/alert-rules/${seededId('alert-rule', 2)}`)).headers.get('x-dualread-reason'), 'fallback')
  old.setFlavour({ errorRate: 0 })
  // A policy edit, applied without a restart.
  writeFileSync(policyFile, readFileSync(policyFile, 'utf8').replace('shadowPercent: 100\ngates', 'shadowPercent: 50\ngates'))

  const proxyText = await eventually(() => scrape(proxy.adminUrl), text => /^dualread_policy_generation 2$/m.test(text))
  const syncText = await scrape(sync.adminUrl)
  const exported = seriesLabels([...parseExposition(proxyText), ...parseExposition(syncText)])

  for (const q of queries) {
    for (const series of q.series) t.ok(exported.has(series), `"${q.panel}" queries ${series}, which a running dualread exports`)
  }
  for (const [series, labels] of exported) {
    if (!series.startsWith('dualread_')) continue
    const contract = contractOf(series)
    t.ok(contract, `${series} is a metric of the spec`)
    t.same([...labels].filter(l => !contract?.labels.includes(l)), [], `${series} carries only the spec's labels`)
  }
  t.match(proxyText, /dualread_drift_pointers_total\{[^}]*pointer="\/escalationPolicyId"[^}]*severity="critical"/, 'the dropped field is critical drift')
  t.match(proxyText, /dualread_drift_pointers_total\{[^}]*pointer="\/for"[^}]*severity="cosmetic"/, 'the rewritten duration is cosmetic')
  t.match(proxyText, /dualread_fallbacks_total\{from="old",to="new"\} 1/)
  t.match(proxyText, /dualread_shadow_skipped_total\{reason="primary_failed"\} 1/)
  t.match(proxyText, /^dualread_policy_generation 2$/m, 'the edit was applied without a restart')
  // The reload restarts the sync loop, which gives the lease back and takes it again.
  t.match(await eventually(() => scrape(sync.adminUrl), text => /^dualread_sync_leader 1$/m.test(text)), /^dualread_sync_leader 1$/m, 'the sync says it leads')
  t.notMatch(proxyText, /dualread_sync_leader/, 'a proxy exports no leadership: the "sync leader absent" alert reads the sync alone')
  t.match(proxyText, /^dualread_policy_file_rejected 0$/m)

  await proxy.stop()
  await sync.stop()
})
