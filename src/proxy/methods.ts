// What a request's method means for routing: a read (either side may serve it), a write (the
// authority only, then read-your-writes and an announcement to the sync), or neither (the
// authority only, nothing recorded). Method-override hints count: a GET that asks to be a DELETE
// is treated as the DELETE the authority may perform.

/** Reads: served by old or new by the policy, and shadowed. */
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD'])

/**
 * Methods that change stored state. Only these pin reads to the authority (read-your-writes)
 * and are announced to the sync; OPTIONS, PROPFIND, TRACE, REPORT and the like go to the
 * authority without either.
 */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH'])

/** Headers by which a client asks a server to treat a request as another method. */
export const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const
/** The query parameter form of the same hint (Rails, Laravel, method-override for Express). */
export const METHOD_OVERRIDE_PARAM = '_method'

export type MethodKind = 'read' | 'write' | 'other'

type Headers = Record<string, string | string[] | undefined>

/**
 * How a request counts, from its method and any override hints (headers, or `_method=` in the
 * query of `url`). A hint can only make a request count as more of a change, never less: a POST
 * that says it is a GET is still a write, since the proxy cannot know whether the authority honours the hint.
 * @example
 * methodKind('GET', '/api/v1/tenants/acme/alert-rules/r1', { 'x-http-method-override': 'DELETE' }) // 'write'
 */
export function methodKind(method: string, url: string, headers: Headers): MethodKind {
  // Most requests carry no hint at all: no list to build.
  if (!url.includes('?') && METHOD_OVERRIDE_HEADERS.every(name => headers[name] === undefined)) return kindOf(method)
  const methods = [method, ...overrides(url, headers)]
  if (methods.some(m => MUTATING_METHODS.has(m))) return 'write'
  return methods.every(m => READ_METHODS.has(m)) ? 'read' : 'other'
}

function kindOf(method: string): MethodKind {
  if (MUTATING_METHODS.has(method)) return 'write'
  return READ_METHODS.has(method) ? 'read' : 'other'
}

/** The methods named by override hints, upper-cased; empty hints are no hints. */
function overrides(url: string, headers: Headers): string[] {
  const named: string[] = []
  for (const name of METHOD_OVERRIDE_HEADERS) named.push(...[headers[name] ?? []].flat())
  const q = url.indexOf('?')
  if (q !== -1) named.push(...new URLSearchParams(url.slice(q + 1)).getAll(METHOD_OVERRIDE_PARAM))
  return named.flatMap(v => v.split(',')).map(v => v.trim().toUpperCase()).filter(v => v !== '')
}
