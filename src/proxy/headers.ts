// Header hygiene at the proxy boundary, one policy for every request the proxy forwards (reads
// through undici, writes, passthrough and websocket upgrades through http-proxy-3): hop-by-hop
// headers stop here in both directions, and forwarding headers follow `forwarded.trust`.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Reason } from '../policy/choose.ts'
import type { Policy, Side } from '../policy/schema.ts'

/** RFC 9110 §7.6.1: headers that describe one connection, never forwarded (plus any the Connection header names). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
])

/**
 * Request headers the proxy answers for itself: each upstream gets its own Host, and Node has
 * already answered `Expect: 100-continue` to the client (undici refuses to send it at all).
 */
const ANSWERED_BY_PROXY: ReadonlySet<string> = new Set(['host', 'expect'])

/** Client-supplied forwarding headers, replaced unless `forwarded.trust` is on. */
function isForwarding(name: string): boolean {
  return name === 'forwarded' || name.startsWith('x-forwarded-')
}

/** The proxy listens on plain HTTP (TLS, if any, ends before it). */
const PROTO = 'http'

export type ForwardedConfig = Policy['forwarded']

export const HEADER = {
  servedBy: 'x-dualread-served-by',
  rule: 'x-dualread-rule',
  reason: 'x-dualread-reason',
} as const

/** Headers that mark a decision on every proxied response. */
export function decisionHeaders(servedBy: Side, rule: string, reason: Reason): Record<string, string> {
  return { [HEADER.servedBy]: servedBy, [HEADER.rule]: rule, [HEADER.reason]: reason }
}

function connectionTokens(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Set<string> | undefined {
  const value = headers['connection']
  return value ? new Set(String(value).toLowerCase().split(',').map(s => s.trim())) : undefined
}

/**
 * The client's request headers as an upstream should see them. W3C trace headers pass unchanged.
 * `upgrade` keeps the websocket handshake (`Connection: upgrade` and `Upgrade`).
 * @example
 * upstreamRequestHeaders(req, { trust: false }) // { ..., 'x-forwarded-for': '10.1.2.3', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example' }
 */
export function upstreamRequestHeaders(req: IncomingMessage, forwarded: ForwardedConfig, o: { upgrade?: boolean } = {}): Record<string, string | string[]> {
  const named = connectionTokens(req.headers)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || ANSWERED_BY_PROXY.has(name)) continue
    if (!forwarded.trust && isForwarding(name)) continue
    out[name] = value
  }
  if (o.upgrade) {
    out['connection'] = 'upgrade'
    out['upgrade'] = req.headers.upgrade!
  }
  const client = String(req.socket.remoteAddress) // set while the request's socket is open
  const host = req.headers.host
  const prior = out['x-forwarded-for']
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client
  out['x-forwarded-proto'] ??= PROTO
  if (host) out['x-forwarded-host'] ??= host
  if (out['forwarded']) out['forwarded'] = `${String(out['forwarded'])}, ${forwardedElement(client, host)}`
  return out
}

/** This hop as an RFC 7239 Forwarded element; an IPv6 address is bracketed and quoted. */
export function forwardedElement(client: string, host: string | undefined): string {
  const node = client.includes(':') ? `"[${client}]"` : client
  return `for=${node};proto=${PROTO}${host ? `;host="${host.replace(/["\\]/g, '\\$&')}"` : ''}`
}

const DECISION_HEADERS: ReadonlySet<string> = new Set(Object.values(HEADER))

/** An upstream response's headers as the client should see them. */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = connectionTokens(headers)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue
    out[name] = value
  }
  return out
}

/**
 * A read's response head as the client should see it, as the flat list (name, value, ...) that
 * `writeHead` writes without building a header object: the upstream's headers less hop-by-hop
 * ones, then the decision (which replaces any the upstream sent under the same names).
 * @example
 * res.writeHead(200, clientResponseHead({ 'content-type': 'application/json', connection: 'keep-alive' }, 'old', 'default', 'rule'))
 * // content-type, x-dualread-served-by: old, x-dualread-rule: default, x-dualread-reason: rule
 */
export function clientResponseHead(headers: Record<string, string | string[] | undefined>, servedBy: Side, rule: string, reason: Reason): Array<string | string[]> {
  // The usual Connection values name no other header: no token set to build.
  const connection = headers['connection']
  const named = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connectionTokens(headers)
  const out: Array<string | string[]> = []
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || DECISION_HEADERS.has(name)) continue
    out.push(name, value)
  }
  out.push(HEADER.servedBy, servedBy, HEADER.rule, rule, HEADER.reason, reason)
  return out
}
