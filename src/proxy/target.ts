// The request target, resolved once before anything is decided on it: dot segments removed the
// way a WHATWG URL parser (and so http-proxy-3, and most upstreams) removes them, absolute form
// turned into origin form. The path that is classified is the path that is forwarded; a target
// that could resolve to different paths on different servers is refused.

export type Target =
  | { ok: true, /** Origin form, path and query: what every upstream is sent. */ url: string, path: string }
  | { ok: false, /** Why it was refused, for the client's 400. */ detail: string }

/** Only http(s) absolute form; its authority is dropped (upstreams get origin form). */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#\\]*/i
/**
 * A target that resolving leaves as it is: origin form, a path of characters a WHATWG parser
 * keeps (no "%", "\\" or "'"), a non-empty query of the same and "%" and "?". Most requests
 * are like this, and skip the parse (a dot segment still goes the long way).
 */
const PLAIN_TARGET = /^(\/[A-Za-z0-9\-._~!$&()*+,;=:@/]*)(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]+)?$/
/** "." or ".." as a whole segment, or before a ";" parameter. */
const DOT_SEGMENT = /\/\.\.?(?:[/;]|$)/
/** A placeholder origin: only the path and query of the parsed URL are used. */
const BASE = 'http://base.invalid'

/**
 * @example
 * resolveTarget('/api/v1/tenants/foo/%2e%2e/acme/alert-rules/r3') // { ok: true, url: '/api/v1/tenants/acme/alert-rules/r3', ... }
 * resolveTarget('/../etc') // { ok: false, detail: '... climbs above the root ...' }
 */
export function resolveTarget(raw: string): Target {
  const plain = PLAIN_TARGET.exec(raw)
  if (plain && !DOT_SEGMENT.test(plain[1]!)) return { ok: true, url: raw, path: plain[1]! }
  const absolute = ABSOLUTE_FORM.exec(raw)
  const target = absolute ? raw.slice(absolute[0].length) : raw
  const originForm = target === '' || target.startsWith('?') ? `/${target}` : target
  if (!originForm.startsWith('/')) return refuse(`the request target must be a path such as /api/v1/..., got ${JSON.stringify(raw.slice(0, 100))}`)
  const end = originForm.search(/[?#]/)
  const path = end === -1 ? originForm : originForm.slice(0, end)
  const problem = ambiguity(path)
  if (problem) return refuse(problem)
  const u = new URL(BASE + originForm)
  return { ok: true, url: u.pathname + u.search, path: u.pathname }
}

/** Why a raw path (no query) is ambiguous, if it is. */
function ambiguity(path: string): string | undefined {
  // Servers disagree on whether these separate segments: the router and the upstream could see different paths.
  if (path.includes('\\')) return 'the path contains "\\", which some servers read as "/": separate segments with "/"'
  if (/%2f/i.test(path)) return 'the path contains an encoded "/" (%2F), which some servers decode into a separator: such paths are refused'
  if (/%5c/i.test(path)) return 'the path contains an encoded "\\" (%5C), which some servers decode into a separator: such paths are refused'
  let depth = 0
  for (const segment of path.split('/').slice(1)) {
    const dots = segment.toLowerCase().replaceAll('%2e', '.')
    if (/^\.\.?;/.test(dots)) return `the path has a dot segment with a ";" parameter (${JSON.stringify(segment)}), which some servers resolve as ".." and others do not: remove it`
    if (dots === '.') continue
    depth += dots === '..' ? -1 : 1
    if (depth < 0) return 'the path climbs above the root with ".." segments: remove them'
  }
  return undefined
}

function refuse(detail: string): Target {
  return { ok: false, detail }
}
