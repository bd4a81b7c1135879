// A policy problem that an operator can act on: where (file, line, key), what, and how to fix it.
import { isMap, isSeq, LineCounter, type Document } from 'yaml'

export type KeyPath = ReadonlyArray<string | number>

export interface PolicyProblem {
  file: string
  line: number
  column: number
  /** Dotted key such as `rules[1].shadowPercent`. */
  key: string
  message: string
  fix: string
  severity: 'error' | 'warning'
}

/** Renders `upstreams.old.url` or `rules[2].match` from a key path. */
export function formatKey(path: KeyPath): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`
  return out === '' ? '(top level)' : out
}

/**
 * Finds where a key lives in the YAML source (the start of the key, or of the list item).
 * A key that is missing points at its nearest existing parent.
 */
export function locate(doc: Document, lines: LineCounter, path: KeyPath): { line: number, column: number } {
  let node: unknown = doc.contents
  let offset = 0
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find(p => (p.key as { value?: unknown } | null)?.value === part)
      if (!pair) break
      offset = start(pair.key)
      node = pair.value
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part]
      offset = start(node)
    } else {
      break
    }
  }
  const pos = lines.linePos(offset)
  return { line: pos.line, column: pos.col }
}

/** Where a node starts in the source: every node that parseDocument builds carries its range. */
function start(node: unknown): number {
  return (node as { range: [number, number, number] }).range[0]
}

/** `file:line:col key: message (fix: ...)` — one line per problem, grep- and editor-friendly. */
export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.severity} ${p.key}: ${p.message}\n    fix: ${p.fix}`
}
