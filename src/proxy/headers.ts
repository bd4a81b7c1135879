// Header hygiene at the proxy boundary: hop-by-hop headers stop here, forwarding headers are added.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Reason } from '../policy/choose.ts'
import type { Side } from '../policy/schema.ts'

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
])

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

/** The client's request headers as the upstream should see them. W3C trace headers pass unchanged. */
export function upstreamRequestHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const named = connectionTokens(req.headers)
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue
    out[name] = value
  }
  const client = String(req.socket.remoteAddress) // set while the request's socket is open
  const prior = req.headers['x-forwarded-for']
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client
  out['x-forwarded-proto'] ??= 'http'
  if (req.headers.host) out['x-forwarded-host'] ??= req.headers.host
  return out
}

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
