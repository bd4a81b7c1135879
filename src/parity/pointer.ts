// JSON Pointers (RFC 6901) as compare rules use them: `*` stands for any one key or array index.
// Rules become a tree walked alongside a document; templated pointers (/receivers/*/name, array
// indexes as `*`) are matched against rule patterns with `overlaps`.

/** The pattern segment that matches any one key or array index. */
export const WILDCARD = '*'

const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/
const NEEDS_ESCAPE = /[~/]/

/** "/a~1b/c~0d" → ["a/b", "c~d"]; "" (the whole document) → []. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map(unescapeSegment)
}

/** RFC 6901 order matters: "~01" is "~1", not "/". */
export function unescapeSegment(segment: string): string {
  return segment.includes('~') ? segment.replaceAll('~1', '/').replaceAll('~0', '~') : segment
}

export function escapeSegment(key: string): string {
  return NEEDS_ESCAPE.test(key) ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key
}

/** The value a pointer (as unescaped segments) addresses, or undefined when there is none. */
export function valueAt(doc: unknown, segments: readonly string[]): unknown {
  let current = doc
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined
    if (Array.isArray(current)) current = ARRAY_INDEX.test(segment) ? current[Number(segment)] : undefined
    else current = Object.hasOwn(current, segment) ? (current as Record<string, unknown>)[segment] : undefined
  }
  return current
}

/** Assigns without the `__proto__` setter, so a key of that name is data like any other. */
export function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
  else object[key] = value
}

/**
 * Whether two pointers, split on "/" in escaped form, are equal, or one is under the other,
 * with `*` in either matching any segment.
 */
export function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i] && a[i] !== WILDCARD && b[i] !== WILDCARD) return false
  }
  return true
}

/** Rules keyed by pointer pattern. A literal child also carries the rules of its `*` sibling, so a walk takes one branch per key. */
export interface PointerTree<T> {
  readonly rule: T | undefined
  readonly children: ReadonlyMap<string, PointerTree<T>>
  readonly wildcard: PointerTree<T> | undefined
}

interface MutableTree<T> {
  rule: T | undefined
  children: Map<string, MutableTree<T>>
  wildcard: MutableTree<T> | undefined
}

/** Builds the tree; `merge` combines two rules that land on one node (same pointer, or a literal key and its `*` sibling). */
export function buildPointerTree<T>(entries: Iterable<readonly [pointer: string, rule: T]>, merge: (a: T, b: T) => T): PointerTree<T> {
  const root = emptyTree<T>()
  for (const [pointer, rule] of entries) {
    let node = root
    for (const segment of parsePointer(pointer)) {
      if (segment === WILDCARD) {
        node = node.wildcard ??= emptyTree()
        continue
      }
      let child = node.children.get(segment)
      if (child === undefined) node.children.set(segment, child = emptyTree())
      node = child
    }
    node.rule = node.rule === undefined ? rule : merge(node.rule, rule)
  }
  return spreadWildcards(root, merge)
}

/** The branch a walk takes for one key or index, if any rule lies below it. */
export function childFor<T>(tree: PointerTree<T>, key: string): PointerTree<T> | undefined {
  return tree.children.get(key) ?? tree.wildcard
}

function emptyTree<T>(): MutableTree<T> {
  return { rule: undefined, children: new Map(), wildcard: undefined }
}

/** A fresh tree in which each literal child also holds what its `*` sibling holds. */
function spreadWildcards<T>(tree: PointerTree<T>, merge: (a: T, b: T) => T): PointerTree<T> {
  const { wildcard } = tree
  const children = new Map<string, PointerTree<T>>()
  for (const [key, child] of tree.children) {
    children.set(key, spreadWildcards(wildcard === undefined ? child : union(child, wildcard, merge), merge))
  }
  return { rule: tree.rule, children, wildcard: wildcard && spreadWildcards(wildcard, merge) }
}

/** Both trees' rules on one tree; shares (never modifies) subtrees only one side has. */
function union<T>(a: PointerTree<T>, b: PointerTree<T>, merge: (a: T, b: T) => T): PointerTree<T> {
  const children = new Map(a.children)
  for (const [key, child] of b.children) {
    const mine = children.get(key)
    children.set(key, mine === undefined ? child : union(mine, child, merge))
  }
  const rule = a.rule === undefined ? b.rule : b.rule === undefined ? a.rule : merge(a.rule, b.rule)
  const wildcard = a.wildcard === undefined ? b.wildcard : b.wildcard === undefined ? a.wildcard : union(a.wildcard, b.wildcard, merge)
  return { rule, children, wildcard }
}
