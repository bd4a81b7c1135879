// The Grafana dashboard that the chart ships, read as data: its panels, their queries, and what
// each PromQL query uses (dualread series, label matchers, grouping labels, legend labels).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const CHART_DIR = join(import.meta.dirname, '../../charts/dualread')
export const DASHBOARD_FILE = join(CHART_DIR, 'dashboards/dualread.json')

export interface Target { expr?: string, legendFormat?: string, refId?: string, datasource?: { type?: string, uid?: string } }
export interface Panel { id?: number, type: string, title?: string, datasource?: { type?: string, uid?: string }, targets?: Target[], panels?: Panel[] }
export interface Variable { name: string, type: string, query?: string | { query: string }, includeAll?: boolean, allValue?: string, multi?: boolean }
export interface Dashboard { title: string, uid: string, panels: Panel[], templating: { list: Variable[] } }

export function loadDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard
}

/** Every panel that shows data (rows only group panels), including those inside collapsed rows. */
export function dataPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap(p => p.type === 'row' ? (p.panels ?? []) : [p])
}

export interface QueryUse {
  panel: string
  expr: string
  /** Every `dualread_*` series the query selects, as exported (counters with `_total`, `_bucket` ...). */
  series: string[]
  /** Labels in `{...}` matchers, per series. */
  matchers: Array<{ series: string, label: string }>
  /** Every selection of a series, with its `{...}` matchers as written ('' when it has none). */
  selections: Array<{ series: string, matchers: string }>
  /** Labels in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)` and `group_left/right (...)`. */
  grouping: string[]
  /** Labels named in the legend (`{{rule}}`). */
  legend: string[]
}

const SERIES = /\bdualread_[a-z0-9_]+/g
const SELECTOR = /\b(dualread_[a-z0-9_]+)\s*\{([^}]*)\}/g
const SELECTION = /\b(dualread_[a-z0-9_]+)\s*(\{[^}]*\})?/g
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g
const LEGEND = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g

/** What one dashboard query uses. A plain reading of PromQL, enough for the queries this dashboard writes. */
export function analyzeQuery(panel: string, target: Target): QueryUse {
  const expr = target.expr ?? ''
  const labelsIn = (list: string) => list.split(',').map(s => s.trim()).filter(Boolean)
  return {
    panel, expr,
    series: [...new Set(expr.match(SERIES) ?? [])],
    matchers: [...expr.matchAll(SELECTOR)].flatMap(([, series, inner]) => [...inner!.matchAll(MATCHER)].map(m => ({ series: series!, label: m[1]! }))),
    selections: [...expr.matchAll(SELECTION)].map(([, series, braces]) => ({ series: series!, matchers: braces ?? '' })),
    grouping: [...new Set([...expr.matchAll(GROUPING)].flatMap(m => labelsIn(m[1]!)))],
    legend: [...new Set([...(target.legendFormat ?? '').matchAll(LEGEND)].map(m => m[1]!))],
  }
}

export function dashboardQueries(d: Dashboard): QueryUse[] {
  return dataPanels(d).flatMap(p => (p.targets ?? []).map(t => analyzeQuery(p.title ?? '(untitled)', t)))
}
