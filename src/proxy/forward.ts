// Writes, unmatched paths and websocket upgrades: streamed to the authority by http-proxy-3,
// untouched. The other side never sees them.
import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { createProxyServer } from 'http-proxy-3'
import type { Logger } from '../telemetry/logger.ts'
import { pathOnly } from '../telemetry/secrets.ts'

const MAX_SOCKETS = 256

/** Called with the upstream status before the response reaches the client. */
export type OnForwarded = (req: http.IncomingMessage, status: number) => void

export class AuthorityForwarder {
  #proxy: ReturnType<typeof createProxyServer>
  #pending = new WeakMap<http.IncomingMessage, OnForwarded>()
  #agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
    https: new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
  }

  constructor(log: Logger) {
    this.#proxy = createProxyServer({ xfwd: true, changeOrigin: true })
    this.#proxy.on('proxyRes', (proxyRes, req, res) => {
      this.#pending.get(req)?.(req, proxyRes.statusCode!)
      // An authority that dies mid-body must not leave the client waiting for the rest.
      proxyRes.once('close', () => { if (!proxyRes.complete) res.destroy() })
    })
    // Never a crash: an unreachable authority is a clean 502 (or a closed socket for upgrades).
    this.#proxy.on('error', (error, req, res) => {
      const err = error as NodeJS.ErrnoException
      log.warn({ err: { message: err.message, code: err.code }, method: req.method, path: pathOnly(req.url!) }, 'authority unreachable for a forwarded request')
      if (res instanceof http.ServerResponse && !res.headersSent) sendError(res, 502, 'authority_unavailable', err.message)
      else (res as Duplex).destroy() // a websocket, or a response already under way
    })
  }

  /** Streams one request to `target`; `onForwarded` sees the status before the client does. */
  web(req: http.IncomingMessage, res: http.ServerResponse, target: string, timeoutMs: number, onForwarded?: OnForwarded): void {
    if (onForwarded) this.#pending.set(req, onForwarded)
    void this.#proxy.web(req, res, { target, agent: this.#agent(target), proxyTimeout: timeoutMs })
  }

  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, target: string): void {
    void this.#proxy.ws(req, socket, head, { target, agent: this.#agent(target) })
  }

  #agent(target: string): http.Agent {
    return target.startsWith('https:') ? this.#agents.https : this.#agents.http
  }

  close(): void {
    this.#proxy.close()
    this.#agents.http.destroy()
    this.#agents.https.destroy()
  }
}

export function sendError(res: http.ServerResponse, status: number, error: string, detail: string): void {
  const body = JSON.stringify({ error, detail })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
