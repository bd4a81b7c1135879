// The request path: resolve the target → classify → choose (policy) → serve (breaker, fallback) → respond → shadow → record.
// A read is one ReadContext from classify on; the shadow stage (parity/) is handed the finished
// read through its own interface and reads the other side through the reader built here.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { Writable } from 'node:stream'
import { chooseBackend, matchRule, otherSide, type Decision, type ReadSlice, type Reason } from '../policy/choose.ts'
import type { CompiledPolicy, ResourceKind, ResourceMatch } from '../policy/compile.ts'
import { keyOfMatch } from '../policy/shape.ts'
import { BodyCapture } from '../parity/capture.ts'
import type { ShadowStage } from '../parity/stage.ts'
import type { Side } from '../policy/schema.ts'
import type { OverrideStore } from '../rollback/overrides.ts'
import { ConditionLog, type Condition } from '../telemetry/condition-log.ts'
import { recordDecision, startRequestSpan, traceparentOf, withTraceContext, type Traced } from '../telemetry/spans.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import { classify, type Classified } from './classify.ts'
import { AuthorityForwarder, sendError } from './forward.ts'
import { clientResponseHead, decisionHeaders, HEADER, upstreamRequestHeaders } from './headers.ts'
import { methodKind } from './methods.ts'
import type { ReadYourWrites } from './read-your-writes.ts'
import type { Admission, WriteRouter } from '../cutover/write-gate.ts'
import { resolveTarget } from './target.ts'
import { describeFailure } from './upstream-failure.ts'
import { UpstreamSideReader } from './shadow-sides.ts'
import type { BodySink, UpstreamPair } from './upstream.ts'

/** A write through the proxy: the object (or, for a collection POST, the collection) it changed. */
export interface WriteEvent {
  resourceType: string
  tenant: string
  id: string | undefined
  at: number
  /** The W3C traceparent of the write's span, when it was traced (the sync's spans link to it). */
  traceparent?: string
}

/** The policy in force together with the upstreams built for it. Swapped whole on reload. */
export interface ProxyGeneration {
  readonly compiled: CompiledPolicy
  readonly upstreams: UpstreamPair
  readonly generation: number
}

export interface GenerationSource {
  readonly current: ProxyGeneration
}

export interface ReadProxyOptions {
  policy: GenerationSource
  overrides: OverrideStore
  readYourWrites: ReadYourWrites
  shadow: ShadowStage
  metrics: Metrics
  /**
   * Called after every write the authority accepted (2xx), before the client sees the answer;
   * a cutover waits for the promise it returns (the write announced to the sync).
   */
  onWrite?: (write: WriteEvent) => Promise<void> | void
  /** Where non-reads go: the fleet's effective authority, held during a cutover. */
  writes: WriteRouter
  log: Logger
}

/** One read as it flows through the stages: classified and routed, then served, answered and shadowed. */
interface ReadContext {
  gen: ProxyGeneration
  req: IncomingMessage
  res: ServerResponse
  /** The resolved target (see target.ts). */
  url: string
  resourceType: string
  /** The read's tenant (path, then header): where the objects it references are looked up. */
  tenant: string | undefined
  kind: ResourceKind
  decision: Decision
  traced: Traced | undefined
}

const PASSTHROUGH_RULE = '(none)'
const NO_RESOURCE = '(none)'

export class ReadProxy {
  #o: ReadProxyOptions
  #forwarder: AuthorityForwarder
  /** Fallbacks are logged per condition (old failing, old's breaker open), not per read. */
  #fallbacks: ConditionLog
  /** How each generation's shadow reads reach a side (parity/stage.ts SideReader). */
  #sides = new WeakMap<ProxyGeneration, UpstreamSideReader>()

  constructor(options: ReadProxyOptions) {
    this.#o = options
    this.#forwarder = new AuthorityForwarder(options.log)
    this.#fallbacks = new ConditionLog(options.log)
  }

  /** The node:http request listener. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    // Captured once: a reload mid-request never changes this request's policy or upstreams.
    const gen = this.#o.policy.current
    if (this.#o.log.isLevelEnabled('debug')) this.#accessLog(req, res)
    // One path for everything after this: what is classified is what the upstream is sent.
    const target = resolveTarget(req.url!) // always set on a server request
    if (!target.ok) return sendError(res, 400, 'bad_request', target.detail)
    const c = classify(gen.compiled, req.method!, target.url, req.headers)
    if (c.kind === 'read') {
      const { slice } = c
      const recent = this.#o.readYourWrites.active(slice.tenant, slice.resourceType)
      const decision = chooseBackend(gen.compiled.policy, slice, this.#o.overrides.current, recent, this.#o.writes.authority())
      const traced = startRequestSpan(req.headers, req.method!, routeOf(c.match))
      void this.#serveRead({ gen, req, res, url: target.url, resourceType: slice.resourceType, tenant: slice.tenant, kind: c.match.kind, decision, traced }) // settles every outcome itself
    } else {
      const admission = this.#o.writes.admit()
      if (admission instanceof Promise) {
        // Held by a cutover: a client that goes away meanwhile must not have its write sent later.
        let abandoned = false
        const onClose = () => { abandoned = true }
        res.once('close', onClose)
        void admission.then(a => {
          res.off('close', onClose)
          if (abandoned && 'side' in a) a.done()
          else this.#forward(gen, c, req, res, target.url, a)
        })
      } else this.#forward(gen, c, req, res, target.url, admission)
    }
  }

  /** Websocket upgrades always go to the authority. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const gen = this.#o.policy.current
    const { policy } = gen.compiled
    const target = resolveTarget(req.url!)
    if (!target.ok) {
      const body = JSON.stringify({ error: 'bad_request', detail: target.detail })
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
      return
    }
    const headers = upstreamRequestHeaders(req, policy.forwarded, { upgrade: true })
    const authority = gen.upstreams.get(this.#o.writes.authority())
    this.#forwarder.ws(req, socket, head, authority.config.url, { url: target.url, headers, connections: authority.writes })
  }

  async #serveRead(read: ReadContext): Promise<void> {
    try {
      await this.#serveTraced(read)
    } finally {
      read.traced?.span.end()
    }
  }

  async #serveTraced(read: ReadContext): Promise<void> {
    const { gen, req, res, url, decision, resourceType, tenant, kind, traced } = read
    const { rule } = decision
    const { shadow } = this.#o
    const request = {
      path: url,
      method: req.method === 'HEAD' ? 'HEAD' as const : 'GET' as const,
      headers: upstreamRequestHeaders(req, gen.compiled.policy.forwarded),
      ...(traced ? { trace: traced.context } : {}),
    }
    let side: Side = decision.serve
    let reason: Reason = decision.reason
    // A shadowed read keeps a copy of the body as it streams to the client.
    const bounds = gen.compiled.policy.shadow
    const capture = shadow.admit(rule, bounds.maxInFlight) ? new BodyCapture(res, bounds.maxBodyBytes) : undefined
    let contentEncoding: string | undefined
    // The body goes to the client unless it is a 5xx that the other side may still replace.
    const toClient = (canFallBack: boolean, sink: Writable): BodySink => (status, headers) => {
      if (status >= 500 && canFallBack) return discardSink()
      // A flat list is the cheapest head to write; the access log (debug) reads the decision back from set headers.
      if (this.#o.log.isLevelEnabled('debug')) res.setHeaders(new Map(Object.entries(decisionHeaders(side, rule.name, reason))))
      res.writeHead(status, clientResponseHead(headers, side, rule.name, reason))
      this.#count(rule.name, resourceType, side, reason, status, traced)
      contentEncoding = headers['content-encoding']
      return sink
    }
    const started = performance.now()
    try {
      const status = await gen.upstreams.get(side).read('primary', request, toClient(rule.fallback, capture ?? res))
      if (capture?.overflowed) shadow.skip('body_too_large')
      else if (capture) {
        const primary = { status, body: capture.body(), ...(contentEncoding ? { contentEncoding } : {}) }
        shadow.launch({ compiled: gen.compiled, sides: this.#sidesOf(gen), rule, resourceType, kind, request, servedBy: side, reason, primary, primaryMs: performance.now() - started, tenant })
      }
      return
    } catch (err) {
      if (capture) shadow.skip('primary_failed', { rule: rule.name, resourceType, side })
      if (res.headersSent || !rule.fallback) return this.#failed(gen, res, err as Error, side, rule.name, reason, resourceType, traced)
      const from = side
      side = otherSide(side)
      reason = 'fallback'
      const open = (err as NodeJS.ErrnoException).code === 'EOPENBREAKER'
      this.#fallbacks.event(`${from}:${open}`, () => fallbackCondition(from, open), { rule: rule.name, error: (err as Error).message })
    }
    try {
      await gen.upstreams.get(side).read('primary', request, toClient(false, res))
      this.#o.metrics.fallbacks.add(1, { from: otherSide(side), to: side })
    } catch (err) {
      this.#failed(gen, res, err as Error, side, rule.name, reason, resourceType, traced)
    }
  }

  #sidesOf(gen: ProxyGeneration): UpstreamSideReader {
    let sides = this.#sides.get(gen)
    if (!sides) this.#sides.set(gen, sides = new UpstreamSideReader(gen.upstreams, gen.compiled.policy.shadow))
    return sides
  }

  /** No side could answer: a clean error, unless the answer (a 5xx, or a cut body) already reached the client. */
  #failed(gen: ProxyGeneration, res: ServerResponse, err: Error, side: Side, rule: string, reason: Reason, resourceType: string, traced: Traced | undefined): void {
    if (res.headersSent) return
    const { status, detail } = describeFailure(side, err, { timeoutMs: gen.upstreams.get(side).config.timeoutMs })
    res.setHeaders(new Map(Object.entries(decisionHeaders(side, rule, reason))))
    sendError(res, status, 'upstream_unavailable', detail)
    this.#count(rule, resourceType, side, reason, status, traced)
  }

  /**
   * A write, or a request that neither reads nor addresses a resource: the authority only, the
   * one the write gate admitted it to (or a 503 while a cutover cannot let it through).
   */
  #forward(gen: ProxyGeneration, c: Exclude<Classified, { kind: 'read' }>, req: IncomingMessage, res: ServerResponse, url: string, admission: Admission): void {
    const { policy } = gen.compiled
    const rule = c.slice ? matchRule(policy, c.slice).name : PASSTHROUGH_RULE
    const reason: Reason = c.kind === 'write' ? 'write' : 'passthrough'
    const resourceType = c.slice?.resourceType ?? NO_RESOURCE
    const traced = startRequestSpan(req.headers, req.method!, c.match && routeOf(c.match))
    if (traced) res.once('close', () => traced.span.end())
    if ('refused' in admission) {
      res.setHeader('retry-after', String(admission.refused.retryAfterSec))
      sendError(res, 503, 'write_held', `${admission.refused.reason}; the write was not sent anywhere`)
      this.#count(rule, resourceType, this.#o.writes.authority(), reason, 503, traced)
      return
    }
    const authority = admission.side
    const upstream = gen.upstreams.get(authority)
    let announced: Promise<void> | void
    res.setHeaders(new Map(Object.entries(decisionHeaders(authority, rule, reason))))
    res.once('finish', () => this.#count(rule, resourceType, authority, reason, res.statusCode, traced))
    res.once('close', () => admission.done(announced ?? undefined))
    const onForwarded = c.kind === 'write'
      ? (_req: IncomingMessage, status: number) => {
          if (status >= 300) return
          const at = Date.now()
          this.#o.readYourWrites.record(c.slice.tenant, c.slice.resourceType, policy.readYourWrites.windowMs, at)
          const traceparent = traced && traceparentOf(traced.span)
          announced = this.#o.onWrite?.({
            resourceType: c.slice.resourceType, tenant: c.slice.tenant ?? '', id: keyOfMatch(c.match.resource, c.match.kind, policy.identity.tenant.pathParam, c.match.params), at,
            ...(traceparent ? { traceparent } : {}),
          })
        }
      : undefined
    const headers = upstreamRequestHeaders(req, policy.forwarded)
    this.#forwarder.web(req, res, upstream.config.url, {
      url,
      headers: traced ? withTraceContext(headers, traced.context) : headers,
      side: authority,
      timeoutMs: upstream.config.timeoutMs,
      connections: upstream.writes,
      queueTimeoutMs: upstream.config.queueTimeoutMs,
      // An unmatched POST may change state too: its failure says so.
      mutating: methodKind(req.method!, url, req.headers) === 'write',
      onForwarded,
    })
  }

  /**
   * Debug-level access log: method and path (never the query string), status, duration, and the
   * decision (side, rule, reason) from the response's headers. The logger redacts credentials.
   */
  #accessLog(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    res.once('finish', () => this.#o.log.debug({
      req, status: res.statusCode, ms: Math.round((performance.now() - started) * 10) / 10,
      servedBy: res.getHeader(HEADER.servedBy), rule: res.getHeader(HEADER.rule), reason: res.getHeader(HEADER.reason),
    }, 'request'))
  }

  #count(rule: string, resourceType: string, servedBy: Side, reason: Reason, status: number, traced: Traced | undefined): void {
    this.#o.metrics.countRequest(rule, resourceType, servedBy, reason, status)
    if (traced) recordDecision(traced.span, rule, resourceType, servedBy, reason, status)
  }

  close(): void {
    this.#forwarder.close()
    this.#fallbacks.close()
  }
}

/** How reads falling back from one side are logged: through its open breaker, or because it failed. */
function fallbackCondition(from: Side, breakerOpen: boolean): Condition {
  const to = otherSide(from)
  return breakerOpen
    ? {
        fields: { from, to },
        began: `reads of ${from} fall back to ${to} while the ${from} breaker is open`,
        summary: (n, s) => `${n} reads fell back to ${to} while the ${from} breaker was open (last ${s} s)`,
      }
    : {
        fields: { from, to },
        began: 'read failed over to the other side',
        summary: (n, s) => `${n} more reads of ${from} failed and fell back to ${to} (last ${s} s)`,
      }
}

/** The route template a request matched (`/api/v1/tenants/:tenant/alert-rules/:id`): what spans are named by, never the path. */
function routeOf(match: ResourceMatch): string {
  return match.resource[match.kind]! // the pattern of the kind it matched
}

/** Where the body of a failed answer goes when the other side will answer instead. */
function discardSink(): Writable {
  return new Writable({ write(_chunk, _encoding, done) { done() } })
}
