// The links an object holds to other objects (its resource's `references`), and what resolving
// them on both sides says: a link that resolves on one side only is a broken reference (critical
// drift); one that resolves on neither is dangling on both (the data's problem, not the
// migration's). Pure: the shadow stage reads, this finds and classifies.
import type { ResourceKind } from '../policy/compile.ts'
import type { Resource } from '../policy/schema.ts'
import { fillPath } from '../policy/shape.ts'
import { decodeBody, type BodyAnswer } from './decode.ts'
import { escapeSegment, parsePointer, valueAt, WILDCARD } from './pointer.ts'

/** The reason a broken link is reported with, next to its pointer. */
export const BROKEN_REFERENCE = 'broken-reference'

/** One object named by a document: its type and id, and the templated pointers it is named at. */
export interface LinkTarget {
  type: string
  id: string
  /** Templated (`*` for every index or key a wildcard matched): `/escalationPolicyId`, `/items/*\/escalationPolicyId`. */
  pointers: string[]
}

/** A resource's references, compiled once per policy load. */
export interface ReferencePlan {
  readonly links: ReadonlyArray<{ readonly segments: readonly string[], readonly type: string }>
  /** For a collection: where the items are, and the templated pointer of one. */
  readonly items: readonly string[]
  readonly itemPattern: string
}

/** Undefined when the resource references nothing (the shadow stage then does no work for it). */
export function compileReferences(resource: Resource): ReferencePlan | undefined {
  const entries = Object.entries(resource.references)
  if (entries.length === 0) return undefined
  return {
    links: entries.map(([pointer, type]) => ({ segments: parsePointer(pointer), type })),
    items: parsePointer(resource.list.items),
    itemPattern: `${resource.list.items}/${WILDCARD}`,
  }
}

/**
 * The objects a document (an item, a singleton, or a list page's items) names, each once. A
 * link's value is an id when it is a non-empty string or a number; null, absent or anything else
 * is no link (an optional reference left out).
 * @example linkTargets(plan, 'item', { escalationPolicyId: 'ep-1' }) // [{ type: 'escalation-policy', id: 'ep-1', pointers: ['/escalationPolicyId'] }]
 */
export function linkTargets(plan: ReferencePlan, kind: ResourceKind, doc: unknown): LinkTarget[] {
  const found = new Map<string, LinkTarget>()
  const add = (type: string, id: string, pointer: string) => {
    const key = `${type}\u0000${id}`
    const target = found.get(key)
    if (target === undefined) found.set(key, { type, id, pointers: [pointer] })
    else if (!target.pointers.includes(pointer)) target.pointers.push(pointer)
  }
  const scan = (object: unknown, prefix: string) => {
    for (const { segments, type } of plan.links) walk(object, segments, prefix, (value, pointer) => add(type, value, pointer))
  }
  if (kind !== 'collection') scan(doc, '')
  else {
    const items = valueAt(doc, plan.items)
    if (Array.isArray(items)) for (const item of items) scan(item, plan.itemPattern)
  }
  return [...found.values()]
}

/**
 * The objects two answers (both 2xx) name, each once (a link named by only one side is looked up
 * on both too); undefined when a body does not parse (the comparison says so already). Runs where
 * the comparison runs (a worker thread), so the bodies are decoded off the client's event loop.
 */
export function answersTargets(plan: ReferencePlan, kind: ResourceKind, old: BodyAnswer, neu: BodyAnswer, maxDecodedBytes?: number): LinkTarget[] | undefined {
  // Byte-equal answers were never parsed by the comparison (a match): one parse for both.
  const same = old.body.equals(neu.body) && old.contentEncoding === neu.contentEncoding
  const bodies = (same ? [old] : [old, neu]).map(answer => decodeBody(answer, maxDecodedBytes))
  const docs = bodies.flatMap(b => b.ok ? [b.doc] : [])
  if (docs.length < bodies.length) return undefined
  const targets = new Map<string, LinkTarget>()
  for (const doc of docs) {
    for (const t of linkTargets(plan, kind, doc)) {
      const key = `${t.type}\u0000${t.id}`
      const known = targets.get(key)
      if (known === undefined) targets.set(key, t)
      else for (const p of t.pointers) if (!known.pointers.includes(p)) known.pointers.push(p)
    }
  }
  return [...targets.values()]
}

/** Calls `found` for every id at `segments` under `value`, `*` matching every array index or object key. */
function walk(value: unknown, segments: readonly string[], pointer: string, found: (id: string, pointer: string) => void, at = 0): void {
  if (at === segments.length) {
    if (typeof value === 'string' && value !== '') found(value, pointer)
    else if (typeof value === 'number' && Number.isFinite(value)) found(String(value), pointer)
    return
  }
  if (value === null || typeof value !== 'object') return
  const segment = segments[at]!
  if (segment === WILDCARD) {
    for (const child of Array.isArray(value) ? value : Object.values(value)) walk(child, segments, `${pointer}/${WILDCARD}`, found, at + 1)
    return
  }
  walk(valueAt(value, [segment]), segments, `${pointer}/${Array.isArray(value) ? WILDCARD : escapeSegment(segment)}`, found, at + 1)
}

/**
 * Where the object a link names is read: the named type's item path, with the tenant and the id
 * filled in (a valid policy only references types whose item path has one parameter besides it).
 */
export function itemPathOf(named: Resource, tenantParam: string, tenant: string | undefined, id: string): string {
  return fillPath(named.item!, tenantParam, tenant ?? '', id)
}

/** Whether a named object exists on a side; undefined when the read could not tell (a timeout, a 5xx, a 403). */
export type Presence = boolean | undefined

export interface Resolved extends LinkTarget {
  old: Presence
  new: Presence
}

/** What resolving every link of a comparison on both sides came to. */
export interface LinkOutcome {
  /** Exists on one side only: critical drift at each of its pointers. */
  broken: Resolved[]
  /** Exists on neither side: dangling in both stores, the same on both (no drift). */
  dangling: Resolved[]
  resolved: Resolved[]
  /** One side could not tell: no verdict. */
  unresolved: Resolved[]
}

export function classifyLinks(resolved: readonly Resolved[]): LinkOutcome {
  const out: LinkOutcome = { broken: [], dangling: [], resolved: [], unresolved: [] }
  for (const r of resolved) {
    if (r.old === undefined || r.new === undefined) out.unresolved.push(r)
    else if (r.old !== r.new) out.broken.push(r)
    else out[r.old ? 'resolved' : 'dangling'].push(r)
  }
  return out
}

/**
 * A sentence on a broken or dangling link, for a sample's detail: it names the object (its id is
 * a reference, not a secret: it is what the operator must create).
 * @example describeLink(r) // 'escalation-policy "ep-1" (at /escalationPolicyId) exists on old, not on new'
 */
export function describeLink(r: Resolved): string {
  const what = `${r.type} "${r.id}" (at ${r.pointers.join(', ')})`
  if (r.old === r.new) return `${what} exists on neither side`
  return r.old ? `${what} exists on old, not on new` : `${what} exists on new, not on old`
}
