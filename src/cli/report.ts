// `dualread report`: the migration's evidence for sign-off, from a proxy's /status, /evidence and
// /history, as JSON (the facts) or Markdown a reviewer reads without the dashboard.
import type { AuditEntry } from '../state/audit-log.ts'
import { parseSyncKey } from '../state/sync-key.ts'
import type { EvidenceHistory, ProxyStatus, SignalPoint } from '../status/schema.ts'

type Slice = ProxyStatus['evidence']['slices'][number]

export interface Report {
  generatedAt: string
  migration: ProxyStatus['migration']
  policy: Pick<ProxyStatus['policy'], 'generation' | 'hash'>
  writes: ProxyStatus['writes']
  evidence: Omit<ProxyStatus['evidence'], 'slices'>
  rules: ProxyStatus['rules']
  slices: Array<Slice & { servedBy: { old: number, new: number, fallbacks: number, errors: number } }>
  /** Each slice's signals per hour or day from the fleet's hourly buckets, with the gate trips of its rule in each. */
  overTime: { step: EvidenceHistory['step'], from: string, to: string, slices: Array<{ rule: string, resourceType: string, points: Array<SignalPoint & { gateTrips: number }> }> } | { unavailable: string }
  gateTrips: AuditEntry[]
  conflicts: { total: number, byResourceType: Record<string, number>, keys: string[] } | { unavailable: string }
  sync: { totals: Record<string, number>, lastVerification: AuditEntry | null, unavailable: string | null }
  history: AuditEntry[]
}

const STEP_MS = { hour: 3_600_000, day: 86_400_000 } as const

/** The report's facts, from what the admin server answered (`series`: its /evidence, or why it could not be read). Pure. */
export function buildReport(status: ProxyStatus, history: AuditEntry[], series: EvidenceHistory | string, now: Date): Report {
  const traffic = new Map(status.traffic.map(r => [`${r.rule}\u0000${r.resourceType}`, r]))
  const { slices, ...evidence } = status.evidence
  const sync = 'unavailable' in status.sync ? { unavailable: status.sync.unavailable } : status.sync
  const gateTrips = history.filter(e => e.event === 'gate-tripped')
  const tripsIn = (rule: string, at: string, step: EvidenceHistory['step']) => {
    const from = Date.parse(at)
    return gateTrips.filter(e => e.detail['rule'] === rule && Date.parse(e.at) >= from && Date.parse(e.at) < from + STEP_MS[step]).length
  }
  return {
    generatedAt: now.toISOString(),
    migration: status.migration,
    policy: { generation: status.policy.generation, hash: status.policy.hash },
    writes: status.writes,
    evidence,
    rules: status.rules,
    slices: slices.map(s => {
      const { old, new: neu, fallbacks, errors } = traffic.get(`${s.rule}\u0000${s.resourceType}`) ?? NO_TRAFFIC
      return { ...s, servedBy: { old, new: neu, fallbacks, errors } }
    }),
    overTime: typeof series === 'string' ? { unavailable: series } : {
      step: series.step, from: series.from, to: series.to,
      slices: series.slices.map(s => ({ ...s, points: s.points.map(p => ({ ...p, gateTrips: tripsIn(s.rule, p.at, series.step) })) })),
    },
    gateTrips,
    conflicts: 'unavailable' in sync ? { unavailable: sync.unavailable } : typeof sync.conflicts === 'string' ? { unavailable: sync.conflicts } : {
      total: sync.conflicts.length,
      byResourceType: sync.conflicts.reduce<Record<string, number>>((by, c) => {
        const type = parseSyncKey(c.key).resourceType
        by[type] = (by[type] ?? 0) + 1
        return by
      }, {}),
      keys: sync.conflicts.map(c => c.key.split('\u0000').join('/')),
    },
    sync: {
      totals: 'unavailable' in sync ? {} : sync.totals,
      lastVerification: history.find(e => e.event === 'verification') ?? null,
      unavailable: 'unavailable' in sync ? sync.unavailable : null,
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
    `- **Writes go to:** ${r.writes.effective ?? 'unknown'}${r.writes.shared && r.writes.epoch ? ` (epoch ${r.writes.epoch})` : ''}`,
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
    ...overTime(r),
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
      : `Recent conflicts (the authority won): ${r.conflicts.total}${r.conflicts.total > 0 ? ` — ${Object.entries(r.conflicts.byResourceType).map(([t, n]) => `${t} ${n}`).join(', ')}; keys: ${r.conflicts.keys.slice(0, CONFLICT_KEYS).join(', ')}${r.conflicts.total > CONFLICT_KEYS ? ', …' : ''}` : ''}`,
    '',
    '## History (newest first)',
    '',
    ...(r.history.length === 0 ? ['Nothing recorded.'] : ['| time | event | what | reason |', '| --- | --- | --- | --- |', ...r.history.map(e => `| ${e.at} | ${e.event} | ${cell(e.subject)} | ${cell(e.reason)} |`)]),
    '',
  ]
  return lines.join('\n')
}

/** Conflicting keys the Markdown names; the JSON has them all. */
const CONFLICT_KEYS = 10
const rate = (x: number | null) => (x === null ? '–' : pct(x))
const ratio = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`)

/** One table per slice: its signals per hour (or day), oldest first, as the gates compute them. */
function overTime(r: Report): string[] {
  const head = ['## Signals over time', '']
  if ('unavailable' in r.overTime) return [...head, `Not available: ${r.overTime.unavailable}`]
  const { step, from, to, slices } = r.overTime
  const when = (at: string) => (step === 'hour' ? `${at.slice(0, 10)} ${at.slice(11, 16)}Z` : at.slice(0, 10))
  const lines = [...head, `Per ${step} from the fleet's hourly buckets, ${from} to ${to}; only ${step}s with comparisons are listed. The error increase is new's error rate minus old's; the p99 ratio is new's over old's.`]
  if (slices.length === 0) lines.push('', 'No comparison recorded in that time.')
  for (const s of slices) {
    lines.push('', `### ${s.rule} / ${s.resourceType}`, '',
      `| ${step} | samples | match rate | errors old / new | error increase | p99 old / new | p99 ratio | gate trips |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...s.points.map(p => `| ${when(p.at)} | ${p.samples} | ${rate(p.matchRate)} | ${rate(p.errorRate.old)} / ${rate(p.errorRate.new)} | ${rate(p.errorRateIncrease)} | ${ms(p.p99Ms.old)} / ${ms(p.p99Ms.new)} | ${ratio(p.p99Ratio)} | ${p.gateTrips} |`))
  }
  return lines
}
