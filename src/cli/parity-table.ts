// `dualread parity`: the parity section of a sidecar's /status as tables an operator can read.
import Table from 'cli-table3'
import type { ProxyStatus } from '../status/schema.ts'

/** What the tables show of a proxy's /status: this replica's record, each slice with its readiness from the fleet's numbers, and the rules. */
export type ParityStatus = Pick<ProxyStatus, 'parity' | 'rules'>

const STYLE = { head: [], border: [] } // no colours: the output is also read from CI logs and files

export function renderParity(status: ParityStatus): string {
  const slices = new Table({
    head: ['rule', 'resource type', 'compared', 'match %', 'match', 'cosmetic', 'critical', 'lag', 'error', 'readiness', 'top drifting pointers'],
    style: STYLE,
  })
  for (const s of status.parity) {
    slices.push([
      s.rule, s.resourceType, s.comparisons, (100 * s.matchRate).toFixed(1),
      s.results.match, s.results.cosmetic, s.results.critical, s.results.lag, s.results.error, s.readiness,
      s.topPointers.slice(0, 3).map(p => `${p.pointer} (${p.reason === undefined ? p.severity : `${p.severity}, ${p.reason}`}, ${p.count})`).join('\n') || '-',
    ])
  }
  const rules = new Table({ head: ['rule', 'primary', 'shadow %', 'rolled back', 'ready to promote', 'why'], style: STYLE })
  for (const r of status.rules) rules.push([r.name, r.primary, r.shadowPercent, r.rolledBack ? 'yes' : 'no', r.readiness, r.readinessReason])
  const out = [status.parity.length === 0 ? 'no shadow comparisons yet (is shadowPercent above 0 on any rule?)' : slices.toString(), '', rules.toString()]
  const noisy = status.parity.flatMap(s => s.noisy.map(n => `  ${s.resourceType} ${n.pointer} differs between two reads of the same side (${n.count}x): add ${n.suggestion}`))
  if (noisy.length > 0) out.push('', 'noisy pointers (not drift):', ...noisy)
  return `${out.join('\n')}\n`
}
