// A document in the form parity compares: `ignore` pointers dropped, `normalize` applied ("5m" and
// "300s" both become 300), arrays under `unordered` sorted. One pass; the input is never modified
// and subtrees no rule reaches are shared with it, so treat the result as read-only.
import type { CompareConfig, Normalizer } from '../policy/schema.ts'
import { canonicalJson } from './canonical.ts'
import { buildPointerTree, parsePointer, setOwn, valueAt, type PointerTree } from './pointer.ts'

type ValueNormalizer = (value: unknown) => unknown

/** What the policy says about one pointer. Several can meet on a node (a key and its `*` sibling). */
interface Rule {
  ignore: boolean
  normalizers: ReadonlySet<ValueNormalizer>
  /** `{ default: VALUE }`, boxed because VALUE may be null. */
  fallback: { value: unknown } | undefined
  /** `unordered`: the key pointer inside each element ([] for the element itself). */
  sortKey: readonly string[] | undefined
}

/** The compiled rules of one resource, walked alongside a document. */
export interface NormalizeNode {
  readonly ignore: boolean
  readonly normalizers: readonly ValueNormalizer[]
  readonly sortKey: readonly string[] | undefined
  readonly children: ReadonlyMap<string, NormalizeNode>
  readonly wildcard: NormalizeNode | undefined
  /** Literal children with a default: filled in when their key is absent. */
  readonly defaults: ReadonlyArray<readonly [key: string, value: unknown, node: NormalizeNode]>
  /** Whether any rule lies below this node. */
  readonly descend: boolean
  /** No `*` child and no ignored child: an object here is copied whole, then its named keys redone. */
  readonly literalOnly: boolean
}

/** "5m", "1h30m", "300s", "1.5h", "250ms": units Go and Prometheus use, plus d and w. */
const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w))+$/
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)/g
/** A bare number of seconds, as a string. */
const SECONDS = /^\d+(?:\.\d+)?$/
/** Counted in nanoseconds so "1500ms" and "1.5s" add up to the same float. */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86_400e9, w: 604_800e9 }
/** A decimal number, written so no run of digits can be split two ways (no catastrophic backtracking). */
const NUMBER = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/

/** A duration string becomes its seconds as a number; numbers and non-durations stay as they are. */
export function toSeconds(value: unknown): unknown {
  if (typeof value !== 'string') return value
  let seconds: number
  if (SECONDS.test(value)) {
    seconds = Number(value)
  } else if (DURATION.test(value)) {
    let ns = 0
    for (const [, amount, unit] of value.matchAll(DURATION_PART)) ns += Number(amount) * UNIT_NS[unit!]!
    seconds = ns / 1e9
  } else {
    return value
  }
  return Number.isFinite(seconds) ? seconds : value
}

export function toLowerCase(value: unknown): unknown {
  return typeof value === 'string' ? value.toLowerCase() : value
}

export function trim(value: unknown): unknown {
  return typeof value === 'string' ? value.trim() : value
}

/** "5" becomes 5; strings that are not a finite number stay. */
export function toNumber(value: unknown): unknown {
  if (typeof value !== 'string' || !NUMBER.test(value)) return value
  const number = Number(value)
  return Number.isFinite(number) ? number : value
}

/** Applied in this order when several meet on one value: trim before parsing, for instance. */
const NORMALIZERS: ReadonlyArray<readonly [Exclude<Normalizer, object>, ValueNormalizer]> = [
  ['trim', trim], ['lowercase', toLowerCase], ['number', toNumber], ['duration', toSeconds],
]
const BY_NAME = new Map(NORMALIZERS)
const ORDER = NORMALIZERS.map(([, f]) => f)

const NO_RULE: Rule = { ignore: false, normalizers: new Set(), fallback: undefined, sortKey: undefined }

export function compileNormalization(compare: CompareConfig): NormalizeNode {
  const entries: Array<readonly [string, Rule]> = []
  for (const pointer of compare.ignore) entries.push([pointer, { ...NO_RULE, ignore: true }])
  for (const [pointer, normalizer] of Object.entries(compare.normalize)) {
    entries.push([pointer, typeof normalizer === 'string'
      ? { ...NO_RULE, normalizers: new Set([BY_NAME.get(normalizer)!]) }
      : { ...NO_RULE, fallback: { value: normalizer.default } }])
  }
  for (const [pointer, key] of Object.entries(compare.unordered)) {
    entries.push([pointer, { ...NO_RULE, sortKey: key === null ? [] : parsePointer(key) }])
  }
  return toNode(buildPointerTree(entries, mergeRules))
}

/** A key's own rule comes first, so it wins over its `*` sibling's default or sort key. */
function mergeRules(a: Rule, b: Rule): Rule {
  return {
    ignore: a.ignore || b.ignore,
    normalizers: new Set([...a.normalizers, ...b.normalizers]),
    fallback: a.fallback ?? b.fallback,
    sortKey: a.sortKey ?? b.sortKey,
  }
}

function toNode(tree: PointerTree<Rule>): NormalizeNode {
  const rule = tree.rule ?? NO_RULE
  const children = new Map([...tree.children].map(([key, child]) => [key, toNode(child)] as const))
  const defaults: Array<readonly [string, unknown, NormalizeNode]> = []
  for (const [key, child] of tree.children) {
    const fallback = child.rule?.fallback
    if (fallback !== undefined && !child.rule!.ignore) defaults.push([key, fallback.value, children.get(key)!])
  }
  return {
    ignore: rule.ignore,
    normalizers: ORDER.filter(f => rule.normalizers.has(f)),
    sortKey: rule.sortKey,
    children,
    wildcard: tree.wildcard && toNode(tree.wildcard),
    defaults,
    descend: children.size > 0 || tree.wildcard !== undefined,
    literalOnly: tree.wildcard === undefined && [...children.values()].every(child => !child.ignore),
  }
}

/** The normalized document. Ignoring the root (`ignore: [""]`) leaves nothing to compare: null. */
export function normalizeDocument(root: NormalizeNode, doc: unknown): unknown {
  return root.ignore ? null : normalizeValue(doc, root)
}

function normalizeValue(value: unknown, node: NormalizeNode): unknown {
  let out = value
  if (node.descend && value !== null && typeof value === 'object') {
    out = Array.isArray(value) ? normalizeArray(value, node) : normalizeObject(value as Record<string, unknown>, node)
  }
  for (const normalize of node.normalizers) out = normalize(out)
  if (node.sortKey !== undefined && Array.isArray(out)) out = sortElements(out, node.sortKey)
  return out
}

function normalizeArray(array: readonly unknown[], node: NormalizeNode): unknown[] {
  const out: unknown[] = []
  for (let i = 0; i < array.length; i++) {
    const child = node.children.get(String(i)) ?? node.wildcard
    if (child === undefined) out.push(array[i])
    else if (!child.ignore) out.push(normalizeValue(array[i], child))
  }
  return out
}

function normalizeObject(object: Record<string, unknown>, node: NormalizeNode): Record<string, unknown> {
  if (node.literalOnly) return normalizeLiteralKeys(object, node)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(object)) {
    const child = node.children.get(key) ?? node.wildcard
    if (child === undefined) setOwn(out, key, object[key])
    else if (!child.ignore) setOwn(out, key, normalizeValue(object[key], child))
  }
  for (const [key, value, child] of node.defaults) {
    if (!Object.hasOwn(object, key)) setOwn(out, key, normalizeValue(value, child))
  }
  return out
}

/** Rules on a few named keys, none ignored: copy the object at once, then redo those keys. */
function normalizeLiteralKeys(object: Record<string, unknown>, node: NormalizeNode): Record<string, unknown> {
  const out = { ...object }
  for (const [key, child] of node.children) {
    if (Object.hasOwn(object, key)) setOwn(out, key, normalizeValue(object[key], child))
  }
  for (const [key, value, child] of node.defaults) {
    if (!Object.hasOwn(object, key)) setOwn(out, key, normalizeValue(value, child))
  }
  return out
}

/**
 * Sorted by each element's key (or the element itself, when it has none), ties broken by the
 * canonical form of the whole element: a total order, so every permutation sorts the same. A
 * string key sorts as itself (most keys are names; no need to serialize them).
 */
function sortElements(array: readonly unknown[], key: readonly string[]): unknown[] {
  const keyed = array.map(element => {
    const value = valueAt(element, key) ?? element
    return { element, sortBy: typeof value === 'string' ? value : canonicalJson(value) }
  })
  keyed.sort((a, b) => compareStrings(a.sortBy, b.sortBy) || compareStrings(canonicalJson(a.element), canonicalJson(b.element)))
  return keyed.map(k => k.element)
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
