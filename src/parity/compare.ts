// Classifies the difference between the old and the new side's answers to one read: match,
// cosmetic, critical or error, with the templated pointers that differ. Pure: the shadow
// scheduler fetches, this decides ('lag' is the scheduler's call, after a recheck).
import type { ResourceKind } from '../policy/compile.ts'
import type { Resource } from '../policy/schema.ts'
import { pairingPointers } from '../policy/shape.ts'
import { absentTest, type AbsentTest } from './absent.ts'
import { canonicalJson, canonicalSha256, sameJson } from './canonical.ts'
import { decodeBody, MAX_DECODED_BYTES, type BodyAnswer } from './decode.ts'
import { addDifferingPointers } from './diff.ts'
import { compileNormalization, normalizeDocument, type NormalizeNode } from './normalize.ts'
import { buildPointerTree, overlaps, parsePointer, setOwn, valueAt, WILDCARD, type PointerTree } from './pointer.ts'

export type { BodyAnswer }

export type DriftResult = 'match' | 'cosmetic' | 'critical' | 'error'
export type Severity = 'critical' | 'cosmetic'

export interface PointerDiff {
  /**
   * Templated: every array index is `*`. A collection's item pointers carry the item list's
   * prefix: `/items/*` and then the pointer within the item, such as `/enabled`.
   */
  pointer: string
  severity: Severity
  /** Set when the difference is not the value there: `broken-reference`, the object it names exists on one side only. */
  reason?: 'broken-reference'
}

export interface Comparison {
  result: DriftResult
  /** Deduplicated, sorted; empty for a match and for status or parse differences. */
  pointers: PointerDiff[]
  /**
   * The resource has a `version` pointer, and: the versions differ; or one side answered 404 and
   * the other 2xx; or (collection) an item is missing or extra. A recheck may then show lag.
   */
  versionsDiffer: boolean
  /** Why, for an error or a status difference: "old answered 200, new answered 404". */
  detail?: string
  /** For an error: the side whose answer could not be compared. */
  failedSide?: 'old' | 'new'
  /**
   * The normalized documents compared, when both parsed (not redacted: pass them to explainDiff).
   * For a collection, the item list keyed by id ({ items: { r1: {...} } }), so a missing item
   * explains as one operation instead of shifting every index after it.
   */
  old?: unknown
  new?: unknown
}

/** One resource's compare rules, compiled once per policy load. Callers pass it back; its fields are this module's business. */
export interface ComparePlan {
  readonly resourceType: string
  readonly normalize: NormalizeNode
  /** `critical` pointers split on "/" in escaped form (leading ""). */
  readonly critical: ReadonlyArray<readonly string[]>
  /** `redact` pointers, at an item's root and under each item of a collection. */
  readonly redact: PointerTree<true>
  readonly items: readonly string[]
  readonly itemsPointer: string
  /** Where a page says there is a next page. */
  readonly next: readonly string[]
  /** The templated pointer of an item in a collection: `/items/*`. */
  readonly itemPattern: string
  /** What identifies an item of a list: its id, preceded by the other item-path parameters' pointers. */
  readonly keys: ReadonlyArray<readonly string[]>
  readonly keyPointers: readonly string[]
  readonly version: readonly string[] | undefined
  readonly maxDecodedBytes: number
  /** `keys` is a natural key (each store assigns its own ids). */
  readonly natural: boolean
  /** Items of a list treated as absent (absentWhen). */
  readonly absent: AbsentTest
}

export interface PlanOptions {
  /** Bound on a decompressed body; a larger one is an error result. */
  maxDecodedBytes?: number
}

/**
 * Compiles a resource's `compare` block. Done once per policy load, not per request.
 * @example const plan = compilePlan(policy.resources[0]); compareAnswers(plan, 'item', oldAnswer, newAnswer)
 */
export function compilePlan(resource: Resource, options: PlanOptions = {}): ComparePlan {
  const { list } = resource
  // With server-assigned ids the id is each store's own: never drift.
  const compare = resource.naturalKey === undefined ? resource.compare : { ...resource.compare, ignore: [...resource.compare.ignore, resource.id] }
  return {
    resourceType: resource.type,
    normalize: compileNormalization(compare),
    critical: compare.critical.map(p => p.split('/')),
    redact: buildPointerTree(compare.redact.flatMap(p => [[p, true], [`${list.items}/${WILDCARD}${p}`, true]] as const), () => true),
    items: parsePointer(list.items),
    itemsPointer: list.items,
    next: parsePointer(list.next),
    itemPattern: `${list.items}/${WILDCARD}`,
    keys: pairingPointers(resource).map(parsePointer),
    keyPointers: pairingPointers(resource),
    version: resource.version === undefined ? undefined : parsePointer(resource.version),
    maxDecodedBytes: options.maxDecodedBytes ?? MAX_DECODED_BYTES,
    natural: resource.naturalKey !== undefined,
    absent: absentTest(resource.absentWhen),
  }
}

/**
 * Compares the two sides' raw answers to the same read. Both 2xx: the bodies are compared. The
 * same status otherwise: a match. Different statuses: critical.
 */
export function compareAnswers(plan: ComparePlan, kind: ResourceKind, oldAnswer: BodyAnswer, newAnswer: BodyAnswer): Comparison {
  const quick = compareWithoutParsing(plan.version !== undefined, oldAnswer, newAnswer)
  if (quick !== undefined) return quick
  const oldBody = decodeBody(oldAnswer, plan.maxDecodedBytes)
  if (!oldBody.ok) return failure('old', oldBody.reason)
  const newBody = decodeBody(newAnswer, plan.maxDecodedBytes)
  if (!newBody.ok) return failure('new', newBody.reason)
  return compareDocuments(plan, kind, oldBody.doc, newBody.doc)
}

/**
 * The verdicts that need no parsing: byte-equal bodies match (a memcmp, no JSON.parse); a status
 * other than 2xx on either side is a match when both are the same, else critical. Undefined when
 * the bodies must be parsed. `versioned`: the resource has a `version` pointer.
 */
export function compareWithoutParsing(versioned: boolean, oldAnswer: BodyAnswer, newAnswer: BodyAnswer): Comparison | undefined {
  const sameStatus = oldAnswer.status === newAnswer.status
  if (sameStatus && oldAnswer.contentEncoding === newAnswer.contentEncoding && oldAnswer.body.equals(newAnswer.body)) return matched()
  const oldOk = isSuccess(oldAnswer.status)
  const newOk = isSuccess(newAnswer.status)
  if (oldOk && newOk) return undefined
  if (sameStatus) return matched()
  const notFoundOnOneSide = (oldAnswer.status === 404 && newOk) || (newAnswer.status === 404 && oldOk)
  return {
    result: 'critical',
    pointers: [],
    versionsDiffer: versioned && notFoundOnOneSide,
    detail: `old answered ${oldAnswer.status}, new answered ${newAnswer.status}`,
  }
}

/** compareAnswers for two already parsed 2xx bodies: a list as a set of items, an item or a singleton whole. */
export function compareDocuments(plan: ComparePlan, kind: ResourceKind, oldDoc: unknown, newDoc: unknown): Comparison {
  return kind === 'collection' ? compareCollections(plan, oldDoc, newDoc) : compareItems(plan, oldDoc, newDoc)
}

/** The templated pointers that differ between two reads (for noise learning: two reads of the same side). */
export function diffPointers(plan: ComparePlan, kind: ResourceKind, a: BodyAnswer, b: BodyAnswer): string[] {
  return compareAnswers(plan, kind, a, b).pointers.map(p => p.pointer)
}

/** sha256 hex of the RFC 8785 form of the normalized item document: equal exactly when a comparison matches. */
export function canonicalHash(plan: ComparePlan, doc: unknown): string {
  return canonicalSha256(normalizeDocument(plan.normalize, doc))
}

/** The item document as compared: ignored pointers gone, values normalized, unordered arrays sorted. */
export function normalizeItem(plan: ComparePlan, doc: unknown): unknown {
  return normalizeDocument(plan.normalize, doc)
}

function compareItems(plan: ComparePlan, oldDoc: unknown, newDoc: unknown): Comparison {
  const oldItem = normalizeDocument(plan.normalize, oldDoc)
  const newItem = normalizeDocument(plan.normalize, newDoc)
  const differing = new Set<string>()
  if (!sameJson(oldItem, newItem)) addDifferingPointers(oldItem, newItem, '', differing)
  return classify(plan, differing, '', false, versionDiffers(plan, oldDoc, newDoc), oldItem, newItem)
}

interface IndexedItem {
  raw: unknown
  normalized: unknown
  /** Its key in the documents of the Comparison. */
  label: string
}

function compareCollections(plan: ComparePlan, oldPage: unknown, newPage: unknown): Comparison {
  const oldItems = indexItems(plan, oldPage)
  if (!(oldItems instanceof Map)) return failure('old', oldItems)
  const newItems = indexItems(plan, newPage)
  if (!(newItems instanceof Map)) return failure('new', newItems)
  // A page with more pages after it holds whatever its side sorts first: when the two sides order
  // the list differently, the same page holds different items. Only a last page is a whole set.
  const partial = hasNextPage(plan, oldPage) || hasNextPage(plan, newPage)
  // Pointers within an item, from every matched pair; prefixed with the item pattern at the end.
  const differing = new Set<string>()
  let unmatched = false
  let versionsDiffer = false
  for (const [key, oldItem] of oldItems) {
    const newItem = newItems.get(key)
    if (newItem === undefined) {
      unmatched ||= !partial
      continue
    }
    if (!sameJson(oldItem.normalized, newItem.normalized)) addDifferingPointers(oldItem.normalized, newItem.normalized, '', differing)
    versionsDiffer ||= versionDiffers(plan, oldItem.raw, newItem.raw)
  }
  for (const key of newItems.keys()) {
    if (!oldItems.has(key)) unmatched ||= !partial
  }
  // A missing or extra item: no version to compare, so a recheck decides whether it was lag.
  versionsDiffer ||= unmatched && plan.version !== undefined
  return classify(plan, differing, plan.itemPattern, unmatched, versionsDiffer, itemsDocument(plan, oldItems), itemsDocument(plan, newItems))
}

function hasNextPage(plan: ComparePlan, page: unknown): boolean {
  const next = valueAt(page, plan.next)
  return next !== undefined && next !== null && next !== ''
}

/**
 * A page's items by the canonical form of their id (a repeated id gets "#2", "#3"...), or why
 * there are none. With several key pointers (an item path with several parameters), the id is
 * the list of their values.
 */
function indexItems(plan: ComparePlan, page: unknown): Map<string, IndexedItem> | string {
  const items = valueAt(page, plan.items)
  if (!Array.isArray(items)) return `body has no item list at ${plan.itemsPointer === '' ? 'the top level (list.items: "")' : plan.itemsPointer}`
  const index = new Map<string, IndexedItem>()
  for (let i = 0; i < items.length; i++) {
    const raw: unknown = items[i]
    if (plan.absent(raw)) continue
    const parts = plan.keys.map(k => valueAt(raw, k))
    const missing = parts.indexOf(undefined)
    if (missing !== -1 && plan.natural) return `item ${i} has nothing at ${plan.keyPointers[missing]}, part of its natural key (check the resource's naturalKey)`
    if (missing !== -1) return `item ${i} has no ${missing === parts.length - 1 ? 'id' : 'key'} at ${plan.keyPointers[missing]} (check the resource's ${missing === parts.length - 1 ? 'id pointer' : 'params'})`
    const id = parts.length === 1 ? parts[0] : parts
    const canonicalId = canonicalJson(id)
    let key = canonicalId
    for (let n = 2; index.has(key); n++) key = `${canonicalId}#${n}`
    const label = (typeof id === 'string' ? id : canonicalId) + key.slice(canonicalId.length)
    index.set(key, { raw, normalized: normalizeDocument(plan.normalize, raw), label })
  }
  return index
}

/** { <list.items path>: { <id>: normalized item } } */
function itemsDocument(plan: ComparePlan, items: Map<string, IndexedItem>): unknown {
  const byId: Record<string, unknown> = {}
  for (const item of items.values()) setOwn(byId, item.label, item.normalized)
  let doc: unknown = byId
  for (let i = plan.items.length - 1; i >= 0; i--) {
    const parent: Record<string, unknown> = {}
    setOwn(parent, plan.items[i]!, doc)
    doc = parent
  }
  return doc
}

/** Critical when the pointer is a critical pointer, is under one, or is above one (a replaced parent). */
function severityOf(plan: ComparePlan, itemPointer: string): Severity {
  const segments = itemPointer.split('/')
  return plan.critical.some(critical => overlaps(segments, critical)) ? 'critical' : 'cosmetic'
}

/** `differing` holds pointers within an item; `unmatched`, whether a collection has a missing or extra item. */
function classify(plan: ComparePlan, differing: Set<string>, prefix: string, unmatched: boolean, versionsDiffer: boolean, oldDoc: unknown, newDoc: unknown): Comparison {
  const severities = new Map<string, Severity>()
  for (const pointer of differing) severities.set(prefix + pointer, severityOf(plan, pointer))
  if (unmatched) severities.set(plan.itemPattern, 'critical')
  const pointers = [...severities].sort(([a], [b]) => (a < b ? -1 : 1)).map(([pointer, severity]): PointerDiff => ({ pointer, severity }))
  const result: DriftResult = pointers.length === 0 ? 'match' : pointers.some(p => p.severity === 'critical') ? 'critical' : 'cosmetic'
  return { result, pointers, versionsDiffer, old: oldDoc, new: newDoc }
}

function versionDiffers(plan: ComparePlan, oldDoc: unknown, newDoc: unknown): boolean {
  return plan.version !== undefined && !sameJson(valueAt(oldDoc, plan.version), valueAt(newDoc, plan.version))
}

function matched(): Comparison {
  return { result: 'match', pointers: [], versionsDiffer: false }
}

function failure(side: 'old' | 'new', reason: string): Comparison {
  return { result: 'error', pointers: [], versionsDiffer: false, detail: `${side} ${reason}`, failedSide: side }
}

/** A 2xx: an answer whose body is the object (compared, and looked into for its links). */
export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300
}
