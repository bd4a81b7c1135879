// `dualread report`: the migration's evidence for sign-off, from a proxy's /status and /history,
// as JSON (the facts) or Markdown a reviewer reads without the dashboard.
import type { AuditEntry } from '../state/audit-log.ts'
import type { SliceVerdict } from '../evidence/judge.ts'

/** What the report reads of a proxy's /status. */
export interface ReportStatus {
  migration: { name: string, phase: string, reason: string, decommission: { ready: boolean, cleanHours: number, neededHours: number, reason: string } }
  policy: { generation: number, hash: string }
  writes: { effective: string | null, epoch?: number | null, lastSwitch?: unknown, lastAbort?: unknown }
  evidence: { store: string, replicas: number, at: string | null, unavailable: string | null, slices: SliceVerdict[] }
  rules: Array<{ name: string, primary: string, newPercent: number, shadowPercent: number, rolledBack: boolean, readiness: string, readinessReason: string }>
  traffic: Array<{ rule: string, resourceType: string, old: number, new: number, fallbacks: number, errors: number }>
  sync?: { unavailable?: string, totals?: Record<string, number>, conflicts?: unknown }
}

export interface Report {
  generatedAt: string
  migration: ReportStatus['migration']
  policy: ReportStatus['policy']
  writes: ReportStatus['writes']
  evidence: Omit<ReportStatus['evidence'], 'slices'>
  rules: ReportStatus['rules']
  slices: Array<SliceVerdict & { servedBy: { old: number, new: number, fallbacks: number, errors: number } }>
  gateTrips: AuditEntry[]
  conflicts: { total: number, byResourceType: Record<string, number> } | { unavailable: string }
  sync: { totals: Record<string, number>, lastVerification: AuditEntry | null, unavailable: string | null }
  history: AuditEntry[]
}

/** The report's facts, from what the admin server answered. Pure. */
export function buildReport(status: ReportStatus, history: AuditEntry[], now: Date): Report {
  const traffic = new Map(status.traffic.map(r => [`${r.rule}\u0000${r.resourceType}`, r]))
  const { slices, ...evidence } = status.evidence
  const conflicts = Array.isArray(status.sync?.conflicts) ? status.sync.conflicts as Array<{ key: string }> : undefined
  return {
    generatedAt: now.toISOString(),
    migration: status.migration,
    policy: status.policy,
    writes: status.writes,
    evidence,
    rules: status.rules,
    slices: slices.map(s => {
      const { old, new: neu, fallbacks, errors } = traffic.get(`${s.rule}\u0000${s.resourceType}`) ?? NO_TRAFFIC
      return { ...s, servedBy: { old, new: neu, fallbacks, errors } }
    }),
    gateTrips: history.filter(e => e.event === 'gate-tripped'),
    conflicts: conflicts ? {
      total: conflicts.length,
      byResourceType: conflicts.reduce<Record<string, number>>((by, c) => {
        const type = c.key.split('/')[0]!
        by[type] = (by[type] ?? 0) + 1
        return by
      }, {}),
    } : { unavailable: String(status.sync?.conflicts ?? status.sync?.unavailable ?? 'no sync status') },
    sync: {
      totals: status.sync?.totals ?? {},
      lastVerification: history.find(e => e.event === 'verification') ?? null,
      unavailable: status.sync?.unavailable ?? null,
    },
    history,
  }
}

const NO_TRAFFIC = { old: 0, new: 0, fallbacks: 0, errors: 0 }

const pct = (x: number) => `${(100 * x).toFixed(1)}%`
const ms = (x: number | null) => (x === null ? '–' : `${x.toFixed(1)} ms`)
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ')

export function renderReportMarkdown(r: Report): string {
  const d = r.migration.decommission
  const lines = [
    `# Migration ${r.migration.name}: evidence for sign-off`,
    '',
    `Generated ${r.generatedAt} from policy generation ${r.policy.generation} (${r.policy.hash}).`,
    '',
    `- **Phase:** ${r.migration.phase} — ${r.migration.reason}`,
    `- **Writes go to:** ${r.writes.effective ?? 'unknown'}${r.writes.epoch ? ` (epoch ${r.writes.epoch})` : ''}`,
    `- **Decommission bar:** ${d.ready ? 'met' : 'not met'} — ${d.reason}`,
    `- **Evidence:** ${r.evidence.store}, ${r.evidence.replicas} replica(s) in the gate window, as of ${r.evidence.at ?? 'never'}${r.evidence.unavailable ? `; ${r.evidence.unavailable}` : ''}`,
    '',
    '## Rules',
    '',
    '| rule | primary | new % | shadow % | rolled back | ready to promote | why |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.rules.map(x => `| ${x.name} | ${x.primary} | ${x.newPercent} | ${x.shadowPercent} | ${x.rolledBack ? 'yes' : 'no'} | ${x.readiness} | ${cell(x.readinessReason)} |`),
    '',
    '## Slices (the fleet\'s gate window)',
    '',
    '| rule | resource type | served old / new | fallbacks | 5xx | samples | match | cosmetic | critical | lag | errors old / new | p99 old / new | readiness |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.slices.map(s => `| ${s.rule} | ${s.resourceType} | ${s.servedBy.old} / ${s.servedBy.new} | ${s.servedBy.fallbacks} | ${s.servedBy.errors} | ${s.window.samples} | ${s.window.results.match} | ${s.window.results.cosmetic} | ${s.window.results.critical} | ${s.window.results.lag} | ${s.window.errors.old} / ${s.window.errors.new} | ${ms(s.window.p99Ms.old)} / ${ms(s.window.p99Ms.new)} | ${s.readiness}: ${cell(s.reason)} |`),
    ...(r.slices.length === 0 ? ['', 'No comparison in the window across the fleet.'] : []),
    '',
    '### Gate signals',
    '',
    ...r.slices.flatMap(s => Object.entries(s.signals).map(([name, v]) => `- ${s.rule} / ${s.resourceType} — ${name}: ${v!.verdict}${v!.value === null ? '' : ` (${name === 'criticalDrift' ? v!.value : name === 'p99' ? `${v!.value.toFixed(2)}×` : pct(v!.value)})`} — ${v!.reason}`)),
    '',
    '## Gate trips',
    '',
    ...(r.gateTrips.length === 0 ? ['None recorded.'] : r.gateTrips.map(e => `- ${e.at} ${e.subject}: ${e.reason}`)),
    '',
    '## Sync',
    '',
    r.sync.unavailable ? `Sync status: ${r.sync.unavailable}` : `Totals: ${Object.entries(r.sync.totals).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    `Last verification (\`dualread sync --once\`): ${r.sync.lastVerification ? `${r.sync.lastVerification.at} — ${r.sync.lastVerification.reason}` : 'none recorded'}`,
    '',
    'unavailable' in r.conflicts
      ? `Conflicts: ${r.conflicts.unavailable}`
      : `Recent conflicts (the authority won): ${r.conflicts.total}${r.conflicts.total > 0 ? ` — ${Object.entries(r.conflicts.byResourceType).map(([t, n]) => `${t} ${n}`).join(', ')}` : ''}`,
    '',
    '## History (newest first)',
    '',
    ...(r.history.length === 0 ? ['Nothing recorded.'] : ['| time | event | what | reason |', '| --- | --- | --- | --- |', ...r.history.map(e => `| ${e.at} | ${e.event} | ${cell(e.subject)} | ${cell(e.reason)} |`)]),
    '',
  ]
  return lines.join('\n')
}
