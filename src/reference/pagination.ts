// List pagination: `?cursor=&limit=`. A cursor is an opaque encoding of the last id a page
// returned; the next page starts after that id, so writes between pages never make a page skip
// or repeat an object that exists throughout.
export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000

const CURSOR_PREFIX = 'after:'
const LIMIT = /^[1-9]\d{0,3}$/

export interface PageRequest {
  after?: string
  limit: number
}

export function encodeCursor(lastId: string): string {
  return Buffer.from(CURSOR_PREFIX + lastId).toString('base64url')
}

/** The page a query asks for, or what is wrong with the query. */
export function readPageRequest(query: Record<string, string | string[] | undefined>): PageRequest | string {
  const { cursor = '', limit } = query
  let request: PageRequest = { limit: DEFAULT_LIMIT }
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !LIMIT.test(limit) || Number(limit) > MAX_LIMIT) {
      return `limit must be a whole number from 1 to ${MAX_LIMIT}`
    }
    request = { limit: Number(limit) }
  }
  if (cursor === '') return request
  const after = typeof cursor === 'string' ? decodeCursor(cursor) : undefined
  if (after === undefined) return 'cursor is not one this API returned: pass nextCursor from the previous page, or no cursor to start over'
  return { ...request, after }
}

function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  // Base64url decoding skips what it cannot read, so only a cursor that encodes back to itself is one of ours.
  if (!text.startsWith(CURSOR_PREFIX) || encodeCursor(text.slice(CURSOR_PREFIX.length)) !== cursor) return undefined
  return text.slice(CURSOR_PREFIX.length)
}
