// RFC 8785 canonical JSON, and the equality it defines. Two JSON values canonicalize to the same
// string exactly when they are structurally equal: RFC 8785 sorts object keys and writes numbers
// and strings the way JSON.stringify does. So a match is decided by walking both documents once
// (sameJson, early exit) and serializing only to hash, which is several times cheaper than
// canonicalizing two 10 KB documents per shadow read; the property tests check the two agree.
import { hash } from 'node:crypto'
import { canonicalize } from 'json-canonicalize'

/** RFC 8785 form of a JSON value (primitives skip the library: their canonical form is JSON.stringify's). */
export function canonicalJson(value: unknown): string {
  return value !== null && typeof value === 'object' ? canonicalize(value) : JSON.stringify(value)
}

/** sha256 hex of the canonical form. */
export function canonicalSha256(value: unknown): string {
  return hash('sha256', canonicalJson(value), 'hex')
}

/** Structural equality of JSON values: true exactly when their canonical forms are equal. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      if (!sameJson(a[i], b[i])) return false
    }
    return true
  }
  if (Array.isArray(b)) return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false
  }
  return true
}
