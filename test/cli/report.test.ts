// `dualread report`: the evidence a reviewer signs off on, from a running proxy, as Markdown and
// JSON: rules, slices with their gate signals, gate trips, the sync and its last verification
// (`sync --once` records it), the decommission bar and the history.
import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { seededId } from '../../src/reference/index.ts'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { buildReport, renderReportMarkdown } from '../../src/cli/report.ts'
import type { ProxyStatus } from '../../src/status/schema.ts'
import { proxyStatusFixture } from '../helpers/status.ts'
import { runCli } from '../helpers/cli.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { refusedPort } from '../helpers/upstream.ts'
import { startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a report from a running proxy says what was compared, what tripped, and the last verification', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: ['acme'], perType: 3 } } })
  // Shadow every read, and serve acme's alert rules from new so the gate is armed.
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace(`rules:
  - name: default
    primary: old`, `rules:
  - name: acme-rules
    match: { tenants: [acme], resourceTypes: [alert-rule] }
    primary: new
    shadowPercent: 100
  - name: default
    primary: old
    shadowPercent: 100
gates:
  rollbackOnCriticalDrift: { threshold: 1, windowSec: 60, minSamples: 2 }`))
  const once = await syncOnce({ policyFile: f.policyFile, stateDir: dir, log: captureLog().log })
  t.equal(once.converged, true)
  const e = await startEmbedded(t, f)
  // New's copy of one rule drifts on a critical pointer.
  const id = seededId('alert-rule', 1)
  f.new.store.put('alert-rule', 'acme', id, { ...f.old.store.get('alert-rule', 'acme', id) as object, threshold: 999 })
  await (await e.proxy.get(`/api/v1/tenants/acme/alert-rules/${id}`)).arrayBuffer()
  await (await e.proxy.get(`/api/v1/tenants/acme/teams/${seededId('team', 1)}`)).arrayBuffer()
  const status = async () => (await (await fetch(`${e.proxy.adminUrl}/status`)).json()) as ProxyStatus
  await eventually(status, s => s.overrides.entries['acme-rules'] !== undefined && s.evidence.slices.length === 2, 10_000)

  const md = await runCli('report', '--admin', e.proxy.adminUrl)
  t.equal(md.code, 0)
  t.match(md.out, /^# Migration default: evidence for sign-off/)
  t.match(md.out, /\*\*Decommission bar:\*\* not met — 0 of 168 clean hours in a row/)
  t.match(md.out, /\| acme-rules \| new \| 0 \| 100 \| yes \| not-ready \| 1 critical difference\(s\) in 60 s \|/)
  t.match(md.out, /\| acme-rules \| alert-rule \| 0 \/ 1 \| 0 \| 0 \| 1 \| 0 \| 0 \| 1 \| 0 \| 0 \/ 0 \|/, 'served by new once, one critical sample')
  t.match(md.out, /## Gate trips\n\n- \S+ rule acme-rules: gate: 1 critical difference\(s\) in 60 s/)
  t.match(md.out, /Last verification \(`dualread sync --once`\): \S+ — converged: both stores hold the same objects/)
  t.match(md.out, /\| \S+ \| verification \| sync --once old → new \|/)

  const json = await runCli('report', '--admin', e.proxy.adminUrl, '--format', 'json')
  const report = JSON.parse(json.out) as ReturnType<typeof buildReport>
  t.match(report.sync.lastVerification, { event: 'verification', detail: { converged: true, differences: 0 } })
  t.match(report.slices.find(s => s.resourceType === 'team'), { rule: 'default', servedBy: { old: 1, new: 0 }, window: { samples: 1 } })
  t.equal(report.gateTrips.length, 1)

  t.match(await runCli('report', '--admin', e.proxy.adminUrl, '--format', 'pdf'), { code: 2, out: /--format pdf: expected md or json/ })
  t.match(await runCli('report', '--admin', e.sync.adminUrl), { code: 1, out: /is a sync process; `dualread report` reads a proxy's admin port/ })
  t.match(await runCli('report', '--admin', 'http://127.0.0.1:1'), { code: 1, out: /cannot reach the admin server/ })
  t.match(await runCli('report', '--admin', f.old.url), { code: 1, out: /the admin server answered 404 to \/status/ }, 'not an admin port')
})

const syncDoc = {
  role: 'sync' as const, owner: 'o', leader: true, fencingToken: 1, direction: { from: 'old' as const, to: 'new' as const }, state: 'redis' as const,
  migration: { name: 'm', phase: 'shadow' as const, reason: 'r' }, cutover: { step: 'idle' as const, run: null },
  totals: { scanned: 0, upserted: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 }, progress: {}, lagSeconds: {},
  conflicts: [], policy: { file: 'p', generation: 1, hash: 'h', lastError: null }, at: '2026-01-01T00:00:00.000Z',
}

t.test('the Markdown says so when there is nothing yet, and when the sync cannot be seen', async t => {
  const status = proxyStatusFixture()
  const md = renderReportMarkdown(buildReport(status, [], 'the store is away', new Date(0)))
  t.match(md, /\*\*Decommission bar:\*\* met/)
  t.match(md, /as of never; evidence in redis: cannot read/)
  t.match(md, /No comparison in the window across the fleet/)
  t.match(md, /## Signals over time\n\nNot available: the store is away/)
  const none = renderReportMarkdown(buildReport(status, [], { store: 'memory', step: 'day', from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T00:00:00.000Z', slices: [] }, new Date(0)))
  t.match(none, /Per day from the fleet's hourly buckets, 2026-01-01T00:00:00\.000Z to 2026-01-31T00:00:00\.000Z; only days with comparisons are listed\.[^\n]*\n\nNo comparison recorded in that time\./)
  const trip = { at: '2026-01-02T10:30:00.000Z', event: 'gate-tripped' as const, role: 'proxy' as const, replica: 'r', subject: 'rule acme', reason: 'gate: slow', detail: { rule: 'acme' } }
  const point = { at: '2026-01-02T00:00:00.000Z', samples: 0, matchRate: null, errors: { old: 0, new: 0 }, errorRate: { old: null, new: null }, errorRateIncrease: null, p99Ms: { old: null, new: null }, p99Ratio: null }
  const gaps = buildReport(status, [trip, { ...trip, detail: { rule: 'other' } }, { ...trip, at: '2026-01-03T00:00:00.000Z' }], { store: 'memory', step: 'day', from: 'f', to: 't', slices: [{ rule: 'acme', resourceType: 'team', points: [point] }] }, new Date(0))
  t.match(renderReportMarkdown(gaps), /### acme \/ team\n\n\| day \|[^\n]*\n[^\n]*\n\| 2026-01-02 \| 0 \| – \| – \/ – \| – \| – \/ – \| – \| 1 \|/, 'what cannot be computed is a dash; the gate trip of the rule that day is counted')
  t.match(md, /## Gate trips\n\nNone recorded/)
  t.match(md, /Sync status: no sync process has published its status lately/)
  t.match(md, /Conflicts: no sync process has published/)
  t.match(md, /Last verification .*: none recorded/)
  t.match(md, /## History \(newest first\)\n\nNothing recorded/)
  const slice = (signals: Record<string, unknown>) => ({
    rule: 'acme', resourceType: 'team', readiness: 'not-ready', reason: 'r', trips: true, signals,
    window: { seconds: 60, samples: 40, results: { match: 30, cosmetic: 10, critical: 0, lag: 0 }, errors: { old: 0, new: 2 }, p99Ms: { old: 5, new: null } },
  }) as never
  const signals = renderReportMarkdown(buildReport({ ...status, evidence: { ...status.evidence, slices: [slice({
    matchRate: { verdict: 'fail', trips: true, value: 0.75, reason: 'match rate 75.0% under 99.0% in 60 s' },
    p99: { verdict: 'fail', trips: true, value: 3, reason: 'slow' },
    errorRate: { verdict: 'inconclusive', trips: false, value: null, reason: 'few' },
  })] }, sync: { ...syncDoc, conflicts: [] } }, [], 'the store is away', new Date(0)))
  t.match(signals, /\| acme \| team \| 0 \/ 0 \| 0 \| 0 \| 40 \|/, 'a slice this replica served nothing of')
  t.match(signals, /5\.0 ms \/ – \|/, 'a side without timed answers')
  t.match(signals, /matchRate: fail \(75\.0%\) — match rate 75\.0% under 99\.0%/)
  t.match(signals, /p99: fail \(3\.00×\) — slow/)
  t.match(signals, /errorRate: inconclusive — few/)
  t.match(signals, /Totals: scanned 0, [\s\S]*Recent conflicts \(the authority won\): 0\n/)
  t.same(buildReport({ ...status, sync: { ...syncDoc, conflicts: 'unavailable: redis is away' } }, [], '', new Date(0)).conflicts, { unavailable: 'unavailable: redis is away' })
  const conflict = (key: string) => ({ key, sourceHash: 'a', targetHash: 'b', winner: 'old' as const, decision: 'upsert' as const, at: '2026-01-01T00:00:00.000Z' })
  const withConflicts = buildReport({ ...status, sync: { ...syncDoc, totals: { ...syncDoc.totals, scanned: 3 }, conflicts: [conflict('team\u0000acme\u0000t1'), conflict('team\u0000acme\u0000t2'), conflict('route\u0000acme\u0000r1')] } }, [], '', new Date(0))
  t.same(withConflicts.conflicts, { total: 3, byResourceType: { team: 2, route: 1 }, keys: ['team/acme/t1', 'team/acme/t2', 'route/acme/r1'] })
  t.match(renderReportMarkdown(withConflicts), /Totals: scanned 3, [\s\S]*Recent conflicts \(the authority won\): 3 — team 2, route 1; keys: team\/acme\/t1, team\/acme\/t2, route\/acme\/r1\n/)
  const many = buildReport({ ...status, sync: { ...syncDoc, conflicts: Array.from({ length: 12 }, (_, i) => conflict(`team\u0000acme\u0000t${i}`)) } }, [], '', new Date(0))
  t.match(renderReportMarkdown(many), /keys: team\/acme\/t0, [^\n]*team\/acme\/t9, …\n/, 'the Markdown names ten keys; the JSON has them all')
  t.equal((many.conflicts as { keys: string[] }).keys.length, 12)
})

t.test('with the record out of reach the report still stands, and says the history could not be read', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: dir, redisUrl: `redis://127.0.0.1:${await refusedPort()}` })
  const r = await runCli('report', '--admin', proxy.adminUrl)
  t.equal(r.code, 0)
  t.match(r.out, /# Migration default: evidence for sign-off[\s\S]*## Signals over time\n\nNot available: the admin server answered 503 to \/evidence: cannot read the fleet's evidence/)
  t.match(r.out, /the history could not be read \(the admin server answered 503 to \/history: cannot read the audit log[^)]*\); the report has none/)
  t.match(r.out, /the signals over time could not be read \(the admin server answered 503 to \/evidence[^)]*\); the report has none/)
})
