// A parsed YAML document turned into plain data. Expanding aliases and merge keys can fail after
// the syntax was fine (an alias to a missing anchor, too many expansions, a merge of a non-map);
// the yaml library throws then, and this turns the throw into a problem with a place and a reason.
import { isAlias, isScalar, visit, type Alias, type Document, type LineCounter } from 'yaml'

/**
 * How many copies aliases may expand to: the yaml library's own default, far above what a policy
 * needs and far below a "billion laughs" document that would exhaust memory.
 */
export const MAX_ALIAS_COUNT = 100

export interface DataProblem {
  /** Offset in the source text. */
  offset: number
  message: string
  fix: string
}

export type YamlData = { ok: true, data: unknown } | { ok: false, problem: DataProblem }

/** The document as plain data, or where and why it cannot be expanded. */
export function toPlainData(doc: Document, lines: LineCounter): YamlData {
  try {
    return { ok: true, data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) }
  } catch (err) {
    return { ok: false, problem: explain(doc, lines, (err as Error).message) }
  }
}

function explain(doc: Document, lines: LineCounter, reason: string): DataProblem {
  /** Where each anchor is first set; while visiting, only the anchors above the current node. */
  const anchors = new Map<string, number>()
  const uses = new Map<string, number>()
  const mergeKeys: number[] = []
  let unresolved: Alias | undefined
  // Document order, as the yaml library resolves aliases: an alias refers to an anchor before it.
  visit(doc, {
    Pair(_, pair) {
      // In YAML 1.1 a merge key's value is a symbol; its source text is always `<<`.
      if (isScalar(pair.key) && pair.key.source === '<<') mergeKeys.push(start(pair.key))
    },
    Node(_, node) {
      if (isAlias(node)) {
        if (!anchors.has(node.source)) unresolved ??= node
        uses.set(node.source, (uses.get(node.source) ?? 0) + 1)
      } else if (node.anchor && !anchors.has(node.anchor)) {
        anchors.set(node.anchor, start(node))
      }
    },
  })
  if (unresolved) {
    const name = unresolved.source
    const later = anchors.get(name)
    if (later === undefined) {
      return {
        offset: start(unresolved),
        message: `alias *${name} refers to no anchor: nothing above it is marked &${name}`,
        fix: `write the value out (a value starting with "*" is an alias: quote it, e.g. "*${name}"), or mark the value to repeat with &${name} above this line`,
      }
    }
    return {
      offset: start(unresolved),
      message: `alias *${name} comes before its anchor &${name} (line ${lines.linePos(later).line})`,
      fix: `move the value marked &${name} above its first use`,
    }
  }
  if (/excessive alias count/i.test(reason)) {
    const [name, count] = [...uses].sort((a, b) => b[1] - a[1])[0]!
    return {
      offset: anchors.get(name)!,
      message: `aliases expand to more than ${MAX_ALIAS_COUNT} copies (anchor &${name} is used ${count} times); refused as a guard against resource exhaustion`,
      fix: 'write the repeated values out, or use fewer aliases',
    }
  }
  // Otherwise a merge key merged something that is not a map: the first merge key, or the top of the file.
  return { offset: [...mergeKeys, 0][0]!, message: reason.split('\n')[0]!, fix: 'a merge key (<<) takes a map, or an alias of a map' }
}

/** Every node that parseDocument builds carries its range in the source. */
function start(node: unknown): number {
  return (node as { range: [number, number, number] }).range[0]
}
