// resolveTarget (src/proxy/target.ts) over plain strings: the path every later stage sees.
import fc from 'fast-check'
import t from 'tap'
import { resolveTarget } from '../../src/proxy/target.ts'
import { describeFailure } from '../../src/proxy/upstream-failure.ts'
import { forwardedElement } from '../../src/proxy/headers.ts'

t.test('dot segments, plain or percent-encoded, are removed the way a WHATWG URL parser removes them', async t => {
  const table: Array<[string, string]> = [
    ['/api/v1/tenants/acme/alert-rules/../alert-rules/r2', '/api/v1/tenants/acme/alert-rules/r2'],
    ['/api/v1/tenants/foo/%2e%2e/acme/alert-rules/r3', '/api/v1/tenants/acme/alert-rules/r3'],
    ['/a/%2E./b/.%2e/c/./d/%2e/e', '/c/d/e'],
    ['/a/b/..', '/a/'],
    ['/a/%2e%2e%2e/b', '/a/%2e%2e%2e/b'],
    ['/a?x=../y&z=%2e%2e', '/a?x=../y&z=%2e%2e'],
    ['/a#fragment', '/a'],
    ['//double/slash', '//double/slash'],
    ['', '/'],
    ['http://evil.example', '/'],
    ['https://evil.example:8443/a/../b?q=1', '/b?q=1'],
  ]
  for (const [raw, url] of table) {
    const r = resolveTarget(raw)
    t.same(r.ok && r.url, url, JSON.stringify(raw))
  }
  const r = resolveTarget('/a/./b?c=1')
  t.same(r, { ok: true, url: '/a/b?c=1', path: '/a/b' })
})

t.test('ambiguous targets are refused with a reason', async t => {
  for (const raw of ['/..', '/a/../..', '/%2E%2e', '/a%2Fb', '/a%5cb', '/a\\b', '/a/.;x/b', '/a/%2e%2e;x', '*', 'ftp://x/y']) {
    const r = resolveTarget(raw)
    t.equal(r.ok, false, raw)
    t.match(!r.ok && r.detail, /\S/, raw)
  }
  t.equal(resolveTarget('/a/b;x=1/c').ok, true, 'a ";" in an ordinary segment is left to the upstream')
})

const segment = fc.constantFrom('a', 'b', '.', '..', '%2e', '%2E%2e', '.%2e', '', 'x;y')
t.test('a resolved target has no dot segments, stays at or below the root, and resolves to itself', async t => {
  fc.assert(fc.property(fc.array(segment, { maxLength: 8 }), segments => {
    const raw = '/' + segments.join('/')
    const r = resolveTarget(raw)
    if (!r.ok) return true
    const dotFree = r.path.split('/').every(s => !['.', '..'].includes(s.toLowerCase().replaceAll('%2e', '.')))
    const again = resolveTarget(r.url)
    return dotFree && again.ok && again.url === r.url && r.url === new URL('http://h' + raw).pathname
  }))
})

// Characters the quick path for ordinary targets must judge right: the ones it takes, and the
// ones a WHATWG parser would rewrite (encode, drop, or read as a separator).
const piece = fc.constantFrom('a', 'Z', '9', '-', '_', '~', '.', '..', '/', ';', '=', '&', '?', '%', '%2e', '%41', "'", ' ', '"', '#', '\\', '`', '{', 'é', ':', '@')
t.test('an ordinary target resolves to exactly what a WHATWG parser makes of it, quick path or not', async t => {
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), pieces => {
    const raw = '/' + pieces.join('')
    const r = resolveTarget(raw)
    if (!r.ok) return true
    const u = new URL('http://h' + raw)
    return r.url === u.pathname + u.search && r.path === u.pathname
  }), { numRuns: 5000 })
  t.same(resolveTarget('/api/v1/tenants/acme/alert-rules/r1.json?x=%20'), { ok: true, url: '/api/v1/tenants/acme/alert-rules/r1.json?x=%20', path: '/api/v1/tenants/acme/alert-rules/r1.json' })
  t.same(resolveTarget('/a?'), { ok: true, url: '/a', path: '/a' }, 'an empty query goes, as the parser drops it')
  t.equal(resolveTarget('/a/..;x/b').ok, false, 'a dot segment with a parameter is still refused')
})

t.test('an upstream failure is described by the side and what happened, never by its address', async t => {
  const err = (code: string) => Object.assign(new Error(`connect ${code} 10.1.2.3:8081`), { code })
  const table: Array<[Error & { code?: string, statusCode?: number }, number, string]> = [
    [err('ECONNREFUSED'), 502, 'the new upstream refused the connection'],
    [err('UND_ERR_HEADERS_TIMEOUT'), 504, 'the new upstream did not answer within 250 ms'],
    [err('UND_ERR_BODY_TIMEOUT'), 504, 'the new upstream stopped sending its answer for 250 ms'],
    [err('UND_ERR_CONNECT_TIMEOUT'), 504, 'the new upstream did not accept the connection within 250 ms'],
    [err('EOPENBREAKER'), 503, 'the new upstream is failing: its breaker is open, so calls fail fast until it half-opens'],
    [err('ENOTFOUND'), 502, 'the new upstream has a host name that does not resolve'],
    [err('EAI_AGAIN'), 502, 'the new upstream has a host name that could not be resolved just now'],
    [err('ECONNRESET'), 502, 'the new upstream closed the connection before answering'],
    [err('UND_ERR_SOCKET'), 502, 'the new upstream closed the connection before answering'],
    [err('EPIPE'), 502, 'the new upstream closed the connection before answering'],
    [err('EWHATEVER'), 502, 'the new upstream failed (EWHATEVER)'],
    [new TypeError('boom'), 502, 'the new upstream failed (TypeError)'],
    [Object.assign(new Error('new answered 503'), { statusCode: 503 }), 502, 'the new upstream answered 503'],
  ]
  for (const [e, status, detail] of table) {
    const f = describeFailure('new', e, { timeoutMs: 250 })
    t.same([f.status, f.detail], [status, detail], detail)
    t.equal(f.timedOut, status === 504)
  }
  t.equal(describeFailure('old', err('ECONNREFUSED'), { timeoutMs: 1, write: true }).detail, 'the old upstream refused the connection; the write was not applied')
  t.equal(describeFailure('old', err('ECONNRESET'), { timeoutMs: 1, write: true }).detail, 'the old upstream closed the connection before answering; the write may have been applied: read it again before retrying')
})

t.test('the proxy\'s own Forwarded element quotes what RFC 7239 requires quoted', async t => {
  t.equal(forwardedElement('10.0.0.1', 'api.example'), 'for=10.0.0.1;proto=http;host="api.example"')
  t.equal(forwardedElement('::ffff:10.0.0.1', undefined), 'for="[::ffff:10.0.0.1]";proto=http')
  t.equal(forwardedElement('10.0.0.1', 'a"b\\c'), 'for=10.0.0.1;proto=http;host="a\\"b\\\\c"')
})
