// `dualread history`: the migration's audit log as a table an operator can read, newest first.
import Table from 'cli-table3'
import type { HistoryReport } from '../status/schema.ts'

const STYLE = { head: [], border: [] } // no colours: the output is also read from CI logs and files

const WHERE = {
  redis: 'shared by every proxy and sync process of the migration (redis)',
  file: 'kept in the state file',
  memory: 'this process only: it shares no state, so other replicas and restarts are not in it',
} as const

export function renderHistory(report: HistoryReport): string {
  const where = `history, newest first (entries: ${report.entries.length}); ${WHERE[report.backend]}`
  if (report.entries.length === 0) return `${where}\nnothing recorded yet\n`
  const table = new Table({ head: ['time', 'event', 'by', 'what', 'reason'], style: STYLE, wordWrap: true, colWidths: [null, null, null, 36, 60] })
  for (const e of report.entries) table.push([e.at, e.event, `${e.role} ${e.replica}`, e.subject, e.reason])
  return `${where}\n${table.toString()}\n`
}
