// Writes, unmatched paths and websocket upgrades: streamed to the authority by http-proxy-3,
// on the authority's write connections (a request waits a bounded time for a free one, then
// gets 503 with Retry-After: it is never sent anywhere else). The other side never sees them.
// The caller gives the resolved target and the headers the upstream should see (the same policy
// as for reads); upstream hop-by-hop headers stop here.
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { createProxyServer } from 'http-proxy-3'
import type { BoundedAgent } from '../connections/bounded-agent.ts'
import type { QueueTimeoutError } from '../connections/budget.ts'
import type { Side } from '../policy/schema.ts'
import type { Logger } from '../telemetry/logger.ts'
import { pathOnly } from '../telemetry/secrets.ts'
import { clientResponseHeaders } from './headers.ts'
import { describeFailure, WRITE_TIMEOUT } from './upstream-failure.ts'

/** A write refused for want of a connection may be retried soon: connections free up as answers finish. */
const BUSY_RETRY_AFTER_SEC = 1

/** Called with the upstream status before the response reaches the client. */
export type OnForwarded = (req: http.IncomingMessage, status: number) => void

export interface Forwarded {
  /** The resolved target in origin form (see target.ts). */
  url: string
  /** The request headers as the upstream should see them (see headers.ts). */
  headers: Record<string, string | string[]>
  /** The authority's write connections. */
  connections: BoundedAgent
}

export interface ForwardedWeb extends Forwarded {
  side: Side
  timeoutMs: number
  /** Longest wait for a free write connection. */
  queueTimeoutMs: number
  /** The request may change state: a failure says whether it may have been applied. */
  mutating: boolean
  onForwarded?: OnForwarded
}

interface InFlight extends ForwardedWeb {
  timedOut: boolean
}

export class AuthorityForwarder {
  #proxy: ReturnType<typeof createProxyServer>
  #pending = new WeakMap<http.IncomingMessage, InFlight>()

  constructor(log: Logger) {
    // Forwarding headers come with the caller's headers (one policy for reads and writes), so no xfwd.
    this.#proxy = createProxyServer({ xfwd: false, changeOrigin: true })
    // Emitted once the request has a socket; `proxyTimeout` destroys it without saying why, so note it here.
    this.#proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.once('timeout', () => { this.#pending.get(req)!.timedOut = true })
    })
    this.#proxy.on('proxyRes', (proxyRes, req, res) => {
      const kept = clientResponseHeaders(proxyRes.headers)
      for (const name of Object.keys(proxyRes.headers)) if (!(name in kept)) delete proxyRes.headers[name]
      // The client's own connection, not the upstream's (http-proxy-3 would otherwise echo the client's Connection header).
      proxyRes.headers['connection'] = res.shouldKeepAlive ? 'keep-alive' : 'close'
      this.#pending.get(req)!.onForwarded?.(req, proxyRes.statusCode!) // always set: proxyRes is for web() only
      // An authority that dies mid-body must not leave the client waiting for the rest.
      proxyRes.once('close', () => { if (!proxyRes.complete) res.destroy() })
    })
    // Never a crash: an unreachable authority is a clean 502 or 504 (or a closed socket for upgrades).
    this.#proxy.on('error', (error, req, res) => {
      const err = error as NodeJS.ErrnoException
      log.warn({ err: { message: err.message, code: err.code }, method: req.method, path: pathOnly(req.url!) }, 'authority unreachable for a forwarded request')
      const sent = this.#pending.get(req)
      if (sent && !(res as http.ServerResponse).headersSent) { // only web() requests are in #pending
        const failure = describeFailure(sent.side, sent.timedOut ? Object.assign(err, { code: WRITE_TIMEOUT }) : err, { timeoutMs: sent.timeoutMs, write: sent.mutating })
        sendError(res as http.ServerResponse, failure.status, failure.timedOut ? 'authority_timeout' : 'authority_unavailable', failure.detail)
      } else (res as Duplex).destroy() // a websocket, or a response already under way
    })
  }

  /**
   * Streams one request to `target` (the upstream's base URL) once a write connection is free;
   * `onForwarded` sees the status before the client does. A client that leaves while waiting is
   * never forwarded.
   */
  web(req: http.IncomingMessage, res: http.ServerResponse, target: string, o: ForwardedWeb): void {
    const { budget } = o.connections
    const giveUp = budget.take(o.queueTimeoutMs, () => {
      res.once('close', () => budget.release())
      this.#send(req, res, target, o)
    }, err => this.#refuse(res, o, err))
    res.once('close', giveUp)
  }

  #send(req: http.IncomingMessage, res: http.ServerResponse, target: string, o: ForwardedWeb): void {
    this.#pending.set(req, { ...o, timedOut: false })
    const headers = { ...o.headers }
    // The body is re-framed for the next hop: chunked in, chunked out (Node encodes it).
    if (req.headers['transfer-encoding']) headers['transfer-encoding'] = 'chunked'
    this.#as(req, { url: o.url, headers }, () => this.#proxy.web(req, res, { target, agent: o.connections.agent, proxyTimeout: o.timeoutMs }))
  }

  /** Every write connection stayed busy: 503, and the client may retry shortly (the request went nowhere). */
  #refuse(res: http.ServerResponse, o: ForwardedWeb, err: QueueTimeoutError): void {
    const failure = describeFailure(o.side, err, { timeoutMs: o.timeoutMs, write: o.mutating })
    res.setHeader('retry-after', String(BUSY_RETRY_AFTER_SEC))
    sendError(res, failure.status, 'authority_unavailable', failure.detail)
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, target: string, o: Forwarded): void {
    this.#as(req, o, () => this.#proxy.ws(req, socket, head, { target, agent: o.connections.agent }))
  }

  /**
   * Runs `proxy` with the request's url and headers replaced by what the upstream should see.
   * http-proxy-3 copies both synchronously when it builds the outgoing request, so the client's
   * originals are back in place for everything after (logs included).
   */
  #as(req: http.IncomingMessage, o: Pick<Forwarded, 'url' | 'headers'>, proxy: () => unknown): void {
    const { url, headers } = req
    req.url = o.url
    req.headers = o.headers as http.IncomingHttpHeaders
    try {
      void proxy()
    } finally {
      req.url = url
      req.headers = headers
    }
  }

  close(): void {
    this.#proxy.close()
  }
}

export function sendError(res: http.ServerResponse, status: number, error: string, detail: string): void {
  const body = JSON.stringify({ error, detail })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
