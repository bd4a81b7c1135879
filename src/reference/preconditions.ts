// Conditional requests for the etags flavour (RFC 9110 §8.8.3, §13.1): a strong ETag per
// representation, and the If-Match / If-None-Match checks a write must pass.
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** A strong ETag for a JSON answer: the same body always has the same tag, any change a new one. */
export function etagOf(body: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22)}"`
}

/**
 * What keeps a write from proceeding, or undefined when its preconditions hold (or it has none).
 * `current` is the object as a read would answer it now; undefined when there is none.
 * If-Match compares strongly (a weak tag never matches); If-None-Match weakly.
 * @example failedPrecondition({ 'if-none-match': '*' }, existing) // → 'If-None-Match: * but the object exists'
 */
export function failedPrecondition(headers: IncomingHttpHeaders, current: unknown): string | undefined {
  const ifMatch = headers['if-match']
  const ifNoneMatch = headers['if-none-match']
  if (ifMatch !== undefined) {
    if (current === undefined) return `If-Match: ${ifMatch} but there is no such object`
    if (ifMatch.trim() !== '*' && !tags(ifMatch).includes(etagOf(current))) return `If-Match: ${ifMatch} but the object's ETag is ${etagOf(current)}`
  }
  if (ifNoneMatch !== undefined && current !== undefined) {
    if (ifNoneMatch.trim() === '*') return 'If-None-Match: * but the object exists'
    if (tags(ifNoneMatch).map(weakened).includes(etagOf(current))) return `If-None-Match: ${ifNoneMatch} but the object's ETag is ${etagOf(current)}`
  }
  return undefined
}

function tags(list: string): string[] {
  return list.split(',').map(tag => tag.trim())
}

function weakened(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag
}
