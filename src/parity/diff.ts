// How two JSON documents differ: as RFC 6902 operations (fast-json-patch) to explain a sample,
// and as templated pointers to classify and count drift on every comparison.
import jsonPatch, { type Operation } from 'fast-json-patch'
import { sameJson } from './canonical.ts'
import { escapeSegment, WILDCARD } from './pointer.ts'

export type { Operation }

/**
 * RFC 6902 operations turning `a` into `b`. fast-json-patch's compare() only walks two
 * containers of the same kind and misses a change of the whole document (a number for an
 * object, [] for {}), so that case is one replace of the root.
 */
export function diffOperations(a: unknown, b: unknown): Operation[] {
  if (isContainer(a) && isContainer(b) && Array.isArray(a) === Array.isArray(b)) return jsonPatch.compare(a, b)
  return sameJson(a, b) ? [] : [{ op: 'replace', path: '', value: b }]
}

/**
 * The templated pointers (array indexes as `*`) of the places diffOperations reports, added to
 * `found`. The same walk as fast-json-patch's compare(), without building operations or cloning
 * values: every shadow read is classified, only samples are explained.
 * @example addDifferingPointers({ a: [1, 2] }, { a: [1, 3] }, '', found) // found: { '/a/*' }
 */
export function addDifferingPointers(a: unknown, b: unknown, pointer: string, found: Set<string>): void {
  if (a === b) return
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) {
    found.add(pointer)
    return
  }
  if (Array.isArray(a)) {
    const other = b as unknown[]
    const element = `${pointer}/${WILDCARD}`
    const shared = Math.min(a.length, other.length)
    for (let i = 0; i < shared; i++) addDifferingPointers(a[i], other[i], element, found)
    if (a.length !== other.length) found.add(element)
    return
  }
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  for (const key of Object.keys(left)) {
    if (!Object.hasOwn(right, key)) found.add(`${pointer}/${escapeSegment(key)}`)
    else if (left[key] !== right[key]) addDifferingPointers(left[key], right[key], `${pointer}/${escapeSegment(key)}`, found)
  }
  for (const key of Object.keys(right)) {
    if (!Object.hasOwn(left, key)) found.add(`${pointer}/${escapeSegment(key)}`)
  }
}

function isContainer(value: unknown): value is object {
  return value !== null && typeof value === 'object'
}
