// What a diff sample may show: secrets replaced by a short hash of their value, so an operator
// still sees that two secrets are equal (or not) without seeing either.
import type { ComparePlan } from './compare.ts'
import { createHmac, randomBytes } from 'node:crypto'
import { holdsKnownSecret, looksLikeCredential } from '../telemetry/secrets.ts'
import { canonicalJson } from './canonical.ts'
import { diffOperations } from './diff.ts'
import { childFor, escapeSegment, parsePointer, setOwn, valueAt, type PointerTree } from './pointer.ts'

/**
 * Keys whose values are secrets wherever they appear: apiKey, routingKey, x-auth-token, clientSecret,
 * authHeader, basicAuth... ("auth" but not "author" or "authority").
 */
export const SECRET_KEY = /token|secret|passw(?:or)?d|key|auth(?!or)|credential|cookie/i
/** Userinfo right after "://": user:pass@ or token@. Sticky, tried at each "://" only. */
const USERINFO = /[^/?#@\s]+@/y
/** explainDiff shows at most this many operations. */
export const MAX_EXPLAINED_OPERATIONS = 50

export interface ExplainedOperation {
  /** RFC 6902. */
  op: 'add' | 'remove' | 'replace'
  /** Where, as an RFC 6901 pointer into the compared (normalized) documents. */
  path: string
  old?: unknown
  new?: unknown
}

/**
 * A deep copy of `doc` with secrets replaced by "[redacted:<8 hex of sha256 of the value's
 * canonical JSON>]": values at the resource's `redact` pointers (in an item, and in each item
 * of a collection), under secret-looking keys, and strings holding a URL with credentials or a
 * credential in an authentication scheme ("Bearer ...", "Basic ...", "Token ...", "ApiKey ...").
 * @example redact(plan, { config: { apiKey: 'abc' } }) // { config: { apiKey: '[redacted:6cc43f85]' } }
 */
export function redact(plan: ComparePlan, doc: unknown): unknown {
  return redactValue(doc, plan.redact)
}

/**
 * How two normalized documents differ (RFC 6902 operations from fast-json-patch), safe to show:
 * the same operations as a diff of the two redacted documents, at most 50. Only the values shown
 * are redacted, not both whole documents: a path stops at a secret (a `redact` pointer or a
 * secret-looking key), whose value shows as its hash, so a changed secret is two different hashes.
 * @example explainDiff(plan, { enabled: true }, { enabled: false }) // [{ op: 'replace', path: '/enabled', old: true, new: false }]
 */
export function explainDiff(plan: ComparePlan, oldDoc: unknown, newDoc: unknown): ExplainedOperation[] {
  // Keyed by the path shown: every change under one secret is one operation on the secret.
  const explained = new Map<string, ExplainedOperation>()
  for (const operation of diffOperations(oldDoc, newDoc)) {
    if (explained.size === MAX_EXPLAINED_OPERATIONS) break
    const place = shownPlace(plan, parsePointer(operation.path))
    if (explained.has(place.path)) continue
    const before = valueAt(oldDoc, place.segments)
    const after = valueAt(newDoc, place.segments)
    const show = (value: unknown): unknown => (place.secret ? mask(value) : redactValue(value, place.rules))
    const step: ExplainedOperation = { op: before === undefined ? 'add' : after === undefined ? 'remove' : 'replace', path: place.path }
    if (before !== undefined) step.old = show(before)
    if (after !== undefined) step.new = show(after)
    explained.set(place.path, step)
  }
  return [...explained.values()]
}

interface ShownPlace {
  /** The path shown: cut after the first secret, keys holding credentials masked. */
  path: string
  /** The segments of that path, to read its values. */
  segments: string[]
  /** Whether the value there is a secret as a whole. */
  secret: boolean
  /** The redact rules that apply below it. */
  rules: PointerTree<true> | undefined
}

/** Where an operation on `segments` may be shown: the same walk redactValue takes. */
function shownPlace(plan: ComparePlan, segments: string[]): ShownPlace {
  let rules: PointerTree<true> | undefined = plan.redact
  let path = ''
  for (let i = 0; i < segments.length; i++) {
    if (rules?.rule) return { path, segments: segments.slice(0, i), secret: true, rules }
    const key = segments[i]!
    path += `/${escapeSegment(secretText(key) ? mask(key) : key)}`
    if (SECRET_KEY.test(key)) return { path, segments: segments.slice(0, i + 1), secret: true, rules }
    rules = rules && childFor(rules, key)
  }
  return { path, segments, secret: rules?.rule === true, rules }
}

/** The mask for one secret value. */
/**
 * A keyed hash: equal secrets show the same mask within this process, but a short mask cannot be
 * reversed by hashing guesses offline (the key never leaves the process).
 */
let MASK_KEY: Uint8Array = randomBytes(32)

/** This process's mask key, handed to comparison workers so their samples mask alike. */
export function maskKey(): Uint8Array {
  return MASK_KEY
}

/** In a comparison worker: the mask key of the process it works for. */
export function useMaskKey(key: Uint8Array): void {
  MASK_KEY = key
}

export function mask(value: unknown): string {
  return `[redacted:${createHmac('sha256', MASK_KEY).update(canonicalJson(value)).digest('hex').slice(0, 8)}]`
}

function redactValue(value: unknown, rules: PointerTree<true> | undefined): unknown {
  if (rules?.rule) return mask(value)
  if (typeof value === 'string') return secretText(value) ? mask(value) : value
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((element, i) => redactValue(element, rules && childFor(rules, String(i))))
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(value)) {
    // A key can be a webhook URL too: hide its credentials, keep its place.
    setOwn(out, secretText(key) ? mask(key) : key, SECRET_KEY.test(key) ? mask(child) : redactValue(child, rules && childFor(rules, key)))
  }
  return out
}

/** A string that is (or holds) a secret: a URL with credentials, a credential such as "Bearer abc", or one this process sends upstream. */
function secretText(text: string): boolean {
  return hasCredentials(text) || looksLikeCredential(text) || holdsKnownSecret(text)
}

/**
 * Whether a string holds a URL with credentials (scheme://user:pass@host) anywhere. Linear in
 * the string: a body can be large and is not trusted to be kind to a backtracking pattern.
 */
export function hasCredentials(text: string): boolean {
  if (!text.includes('@')) return false
  for (let at = text.indexOf('://'); at !== -1; at = text.indexOf('://', at + 3)) {
    USERINFO.lastIndex = at + 3
    if (USERINFO.test(text)) return true
  }
  return false
}
