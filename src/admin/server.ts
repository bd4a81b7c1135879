// The admin port: health, readiness, Prometheus metrics, JSON status, the /ui dashboard, the
// migration's history and the rollback override. Loopback by default; bound anywhere else it requires
// `Authorization: Bearer $DUALREAD_ADMIN_TOKEN` (except /healthz and /readyz, which kubelet probes
// call without credentials, and /ui, a static page that asks for the token before it reads /status).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { BlockList, isIP } from 'node:net'
import type { Metrics } from '../telemetry/metrics.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { OverrideChange } from '../rollback/overrides.ts'
import type { Side } from '../policy/schema.ts'
import { AUDIT_LOG_LIMIT } from '../state/audit-log.ts'
import { statusJsonSchema, type EvidenceHistory, type HistoryReport, type StatusDocument } from '../status/schema.ts'

const MAX_BODY_BYTES = 16 * 1024
/** Entries GET /history returns without `?limit=`. */
export const DEFAULT_HISTORY_LIMIT = 100
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/ui'])
/** The /status document as JSON Schema, generated once from its zod schema. */
const STATUS_SCHEMA = statusJsonSchema()
const UI_PAGE = readFileSync(new URL('./ui.html', import.meta.url))
/** The page is self-contained: its own inline script and style, data from this origin only. */
const UI_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-length': UI_PAGE.length,
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  'cache-control': 'no-cache',
}

export interface AdminHandlers {
  ready(): Promise<{ ready: boolean, detail: Record<string, unknown> }>
  /** The document GET /status serves; src/status/schema.ts declares it. */
  status(): StatusDocument | Promise<StatusDocument>
  /** Every slice's signals per hour or day from the fleet's hourly buckets (GET /evidence); rejects when the store is unreachable. Proxies only. */
  evidence?: (step: 'hour' | 'day') => Promise<EvidenceHistory>
  /** The newest `limit` entries of the audit log, newest first (GET /history); rejects when its store is unreachable. */
  history(limit: number): Promise<HistoryReport>
  /** Validates and applies a rollback change; returns why it was refused (400 invalid, 503 the shared store is down). Proxies only. */
  rollback?: (change: OverrideChange) => Promise<RollbackRefusal | undefined>
  /** Where the write cutover stands (GET /cutover); absent without state shared with a sync. */
  cutover?: () => Promise<unknown>
  /** Asks for a write cutover to `to` (POST /cutover). */
  requestCutover?: (to: Side) => Promise<unknown>
}


export interface RollbackRefusal {
  status: 400 | 503
  error: 'bad_request' | 'unavailable'
  detail: string
}

export interface AdminOptions {
  metrics: Metrics
  log: Logger
  handlers: AdminHandlers
  /** Required when `host` is not loopback. */
  token?: string
}

/** 127.0.0.0/8 and ::1; BlockList also matches IPv4-mapped forms such as ::ffff:127.0.0.1. */
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/**
 * Whether admin bound to `host` is reachable from this machine only: `localhost` or a loopback
 * address, parsed as an address. Any other name (127.example.com resolves anywhere) needs the token.
 * @example isLoopback('[::1]') // true
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost') return true
  const family = isIP(h)
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6')
}

export class AdminConfigError extends Error {}

export function createAdminServer(host: string, options: AdminOptions): Server {
  if (!isLoopback(host) && !options.token) {
    throw new AdminConfigError(`admin is bound to ${host}, which is not loopback: set DUALREAD_ADMIN_TOKEN, or bind admin to 127.0.0.1`)
  }
  const expected = options.token && !isLoopback(host) ? Buffer.from(`Bearer ${options.token}`) : undefined
  return createServer((req, res) => {
    handle(req, res, options, expected).catch(err => {
      options.log.error({ err }, 'admin request failed')
      if (!res.headersSent) json(res, 500, { error: 'internal', detail: (err as Error).message })
    })
  })
}

async function handle(req: IncomingMessage, res: ServerResponse, o: AdminOptions, expected: Buffer | undefined): Promise<void> {
  const path = req.url!.split('?')[0]!
  const query = req.url!.slice(path.length + 1)
  if (expected && !OPEN_PATHS.has(path)) {
    const given = Buffer.from(String(req.headers.authorization ?? ''))
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.setHeader('www-authenticate', 'Bearer')
      json(res, 401, { error: 'unauthorized', detail: 'send Authorization: Bearer $DUALREAD_ADMIN_TOKEN' })
      return
    }
  }
  switch (`${req.method} ${path}`) {
    case 'GET /healthz':
      json(res, 200, { ok: true })
      return
    case 'GET /readyz': {
      const r = await o.handlers.ready()
      json(res, r.ready ? 200 : 503, { ready: r.ready, ...r.detail })
      return
    }
    case 'GET /metrics':
      o.metrics.handle(req, res)
      return
    case 'GET /ui':
      res.writeHead(200, UI_HEADERS)
      res.end(UI_PAGE)
      return
    case 'GET /status':
      json(res, 200, await o.handlers.status())
      return
    case 'GET /status/schema':
      json(res, 200, STATUS_SCHEMA)
      return
    case o.handlers.evidence && 'GET /evidence': {
      const step = new URLSearchParams(query).get('step') ?? 'hour'
      if (step !== 'hour' && step !== 'day') {
        json(res, 400, { error: 'bad_request', detail: 'step must be hour or day' })
        return
      }
      try {
        json(res, 200, await o.handlers.evidence!(step))
      } catch (err) {
        json(res, 503, { error: 'unavailable', detail: `cannot read the fleet's evidence: ${(err as Error).message}; retry once the state store answers` })
      }
      return
    }
    case 'GET /history': {
      const limit = Number(new URLSearchParams(query).get('limit') ?? DEFAULT_HISTORY_LIMIT)
      if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LOG_LIMIT) {
        json(res, 400, { error: 'bad_request', detail: `limit must be a whole number from 1 to ${AUDIT_LOG_LIMIT}` })
        return
      }
      try {
        json(res, 200, await o.handlers.history(limit))
      } catch (err) {
        json(res, 503, { error: 'unavailable', detail: `cannot read the audit log: ${(err as Error).message}; retry once the state store answers` })
      }
      return
    }
    case o.handlers.rollback && 'POST /rollback': {
      const change = parseChange(await readBody(req))
      if (typeof change === 'string') { json(res, 400, { error: 'bad_request', detail: change }); return }
      const problem = await o.handlers.rollback!(change)
      if (problem) { json(res, problem.status, { error: problem.error, detail: problem.detail }); return }
      json(res, 200, { ok: true, overrides: (await o.handlers.status() as { overrides?: unknown }).overrides })
      return
    }
    case o.handlers.cutover && 'GET /cutover':
      json(res, 200, await o.handlers.cutover!())
      return
    case o.handlers.requestCutover && 'POST /cutover': {
      const to = (Object(parseJson(await readBody(req))) as { to?: unknown }).to
      if (to !== 'old' && to !== 'new') { json(res, 400, { error: 'bad_request', detail: 'expected a JSON body {"to":"new"} or {"to":"old"}' }); return }
      json(res, 202, await o.handlers.requestCutover!(to))
      return
    }
    default:
      json(res, 404, { error: 'not_found', detail: 'admin paths: /healthz /readyz /metrics /status /status/schema /evidence /history /ui /cutover, POST /rollback, POST /cutover' })
  }
}

function parseJson(body: string): unknown {
  try { return JSON.parse(body) } catch { return undefined }
}

function parseChange(body: string): OverrideChange | string {
  let v: unknown
  try { v = JSON.parse(body) } catch { return 'expected a JSON body such as {"rule":"eu-canary"}, {"all":true} or {"clear":true}' }
  const o = Object(v) as Record<string, unknown>
  const reason = typeof o['reason'] === 'string' ? o['reason'] : 'admin api'
  const chosen = [typeof o['rule'] === 'string', o['all'] === true, o['clear'] === true].filter(Boolean).length
  if (chosen !== 1) return 'give exactly one of "rule" (a rule name), "all": true or "clear": true'
  if (typeof o['rule'] === 'string') return { rule: o['rule'], reason }
  return o['all'] === true ? { all: true, reason } : { clear: true, reason }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return ''
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
