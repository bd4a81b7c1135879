// One backend (old or new): its read connections (an undici pool, shared by primary and shadow
// reads) and write connections (an agent for http-proxy-3), each sized and with a bounded wait
// for a free connection, and a circuit breaker per role, so shadow traffic can never open the
// breaker that guards the primary path.
import type { IncomingHttpHeaders } from 'node:http'
import type { Writable } from 'node:stream'
import type { Context } from '@opentelemetry/api'
import CircuitBreaker from 'opossum'
import type { Dispatcher } from 'undici'
import { BoundedAgent } from '../connections/bounded-agent.ts'
import { BoundedPool } from '../connections/bounded-pool.ts'
import { QUEUE_TIMEOUT, type BudgetReading } from '../connections/budget.ts'
import { ATTR, endWith, startUpstreamSpan, withTraceContext } from '../telemetry/spans.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { BreakerReading, BreakerStateName, Metrics } from '../telemetry/metrics.ts'
import type { BreakerConfig, Side, UpstreamConfig } from '../policy/schema.ts'
import { UpstreamHeaders } from '../credentials/upstream-headers.ts'

export type Role = 'primary' | 'shadow' | 'sync'

export interface UpstreamRequest {
  path: string
  method: 'GET' | 'HEAD'
  headers: Record<string, string | string[]>
  /** Overrides the upstream's timeoutMs (shadow reads use shadow.timeoutMs). */
  timeoutMs?: number
  /** The span this read belongs to (only while tracing): the attempt is its child, and the upstream sees the attempt's context. */
  trace?: Context
}

/** Told the status and headers, returns where the body should go (the client, or a discard). */
export type BodySink = (statusCode: number, headers: IncomingHttpHeaders) => Writable

/** A 5xx answer: a failure for the breaker. Its body has gone to the sink, which chose where. */
export class UpstreamStatusError extends Error {
  readonly statusCode: number
  constructor(side: Side, statusCode: number) {
    super(`${side} answered ${statusCode}`)
    this.name = 'UpstreamStatusError'
    this.statusCode = statusCode
  }
}

const BREAKER_BUCKETS = 10

export class Upstream {
  readonly side: Side
  readonly config: UpstreamConfig
  /** upstreams.<side>.headers: what shadow reads send with `shadow.credentials: upstream`. */
  readonly credentials: UpstreamHeaders
  #reads: BoundedPool
  /** Primary reads wait up to queueTimeoutMs for a free connection; shadow reads take a free one or none. */
  #dispatchers: { primary: Dispatcher, shadow: Dispatcher }
  /** Where writes go out (see forward.ts). */
  readonly writes: BoundedAgent
  #breakerConfig: BreakerConfig
  #breakers = new Map<Role, CircuitBreaker<[() => Promise<number>], number>>()
  #metrics: Metrics
  #log: Logger
  #unobserve: () => void
  /** The upstream's base path ("/api" in http://host/api), prefixed to every request path. */
  readonly basePath: string
  #durationAttributes = new Map<Role, { upstream: Side, role: Role }>()

  constructor(side: Side, config: UpstreamConfig, breaker: BreakerConfig, metrics: Metrics, log: Logger) {
    this.side = side
    this.config = config
    this.credentials = new UpstreamHeaders(side, config.headers)
    this.#breakerConfig = breaker
    this.#metrics = metrics
    this.#log = log
    const refused = (pool: 'reads' | 'writes') => () => metrics.queueTimeouts.add(1, { upstream: side, pool })
    this.#reads = new BoundedPool(config.url, { side, role: 'reads', connections: config.connections.reads, timeoutMs: config.timeoutMs, onRefused: refused('reads') })
    this.#dispatchers = { primary: this.#reads.waiting(config.queueTimeoutMs), shadow: this.#reads.waiting(0) }
    this.writes = new BoundedAgent(config.url, { side, connections: config.connections.writes, onRefused: refused('writes') })
    this.#unobserve = metrics.observeBreakers(() => this.breakerStates())
    const { pathname } = new URL(config.url)
    this.basePath = pathname === '/' ? '' : pathname.replace(/\/$/, '')
    for (const role of ['primary', 'shadow', 'sync'] as const) this.#durationAttributes.set(role, { upstream: side, role })
  }


  /**
   * Sends one read through the role's breaker and streams its body into the writable that
   * `sink` returns (undici writes straight into it: no intermediate body stream). Resolves with
   * the status once the body is delivered; a 5xx, a timeout, a refused connection or an open
   * breaker rejects.
   */
  read(role: Role, req: UpstreamRequest, sink: BodySink): Promise<number> {
    if (!req.trace) return this.#breaker(role).fire(() => this.#stream(role, req, sink))
    // Traced: one span per attempt, an open breaker's refusal included (none in a trace not sampled).
    const attempt = startUpstreamSpan(req.trace, this.side, role)
    if (!attempt) return this.#breaker(role).fire(() => this.#stream(role, req, sink, req.trace))
    const fired = this.#breaker(role).fire(() => this.#stream(role, req, sink, attempt.context))
    return endWith(attempt.span, fired, (span, status) => span.setAttribute(ATTR.status, status))
  }

  /** `trace`: the context the upstream is sent (the attempt's, or an unsampled request's). */
  async #stream(role: Role, req: UpstreamRequest, sink: BodySink, trace?: Context): Promise<number> {
    const started = performance.now()
    let status = 0
    await (role === 'shadow' ? this.#dispatchers.shadow : this.#dispatchers.primary).stream({
      path: this.basePath + req.path,
      method: req.method,
      headers: trace ? withTraceContext(req.headers, trace) : req.headers,
      headersTimeout: req.timeoutMs ?? this.config.timeoutMs,
      bodyTimeout: req.timeoutMs ?? this.config.timeoutMs,
    }, ({ statusCode, headers }) => {
      this.#metrics.upstreamDuration.record((performance.now() - started) / 1000, this.#durationAttributes.get(role))
      status = statusCode
      return sink(statusCode, headers as IncomingHttpHeaders)
    })
    if (status >= 500) throw new UpstreamStatusError(this.side, status)
    return status
  }

  #breaker(role: Role) {
    let breaker = this.#breakers.get(role)
    if (breaker) return breaker
    const c = this.#breakerConfig
    breaker = new CircuitBreaker((call: () => Promise<number>) => call(), {
      name: `${this.side}-${role}`,
      timeout: false, // timeouts are per request (undici headersTimeout), never a shared abort
      errorThresholdPercentage: c.errorThresholdPercentage,
      volumeThreshold: c.volumeThreshold,
      resetTimeout: c.resetTimeoutMs,
      rollingCountTimeout: c.rollingWindowMs,
      rollingCountBuckets: BREAKER_BUCKETS,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // A shadow read finding every connection busy is skipped, not a failure of the shadow side.
      errorFilter: (err: NodeJS.ErrnoException) => role === 'shadow' && err.code === QUEUE_TIMEOUT,
    })
    const fields = { upstream: this.side, role }
    breaker.on('open', () => this.#log.warn(fields, `breaker for ${this.side} (${role}) opened: its calls fail fast for ${c.resetTimeoutMs} ms`))
    breaker.on('halfOpen', () => this.#log.info(fields, `breaker for ${this.side} (${role}) is half-open: trying one call`))
    breaker.on('close', () => this.#log.info(fields, `breaker for ${this.side} (${role}) closed`))
    this.#breakers.set(role, breaker)
    return breaker
  }

  breakerState(role: Role): BreakerStateName {
    const b = this.#breakers.get(role)
    if (!b || b.closed) return 'closed'
    return b.halfOpen ? 'half-open' : 'open'
  }

  breakerStates(): BreakerReading[] {
    return [...this.#breakers.keys()].map(role => ({ upstream: this.side, role, state: this.breakerState(role) }))
  }

  /**
   * Any HTTP answer at the base URL counts as reachable (used by /readyz). It waits for a read
   * connection like a primary read: an upstream whose connections all stay busy is not ready.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.#dispatchers.primary.request({ path: this.basePath || '/', method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      await res.body.dump()
      return true
    } catch {
      return false
    }
  }

  /** How busy its connections are, for /status. */
  connections(): Record<'reads' | 'writes', BudgetReading> {
    return { reads: this.#reads.budget.reading(), writes: this.writes.budget.reading() }
  }

  /** Stops the breakers and closes the read pool once its in-flight requests finish, then the write agent. */
  async close(): Promise<void> {
    this.#unobserve()
    for (const b of this.#breakers.values()) b.shutdown()
    await this.#reads.close()
    this.writes.destroy()
  }
}

/** Both sides, built from one policy; kept across reloads that do not change their settings. */
export class UpstreamPair {
  readonly old: Upstream
  readonly new: Upstream
  readonly key: string

  constructor(upstreams: Record<Side, UpstreamConfig>, breaker: BreakerConfig, metrics: Metrics, log: Logger) {
    this.key = UpstreamPair.keyOf(upstreams, breaker)
    this.old = new Upstream('old', upstreams.old, breaker, metrics, log)
    this.new = new Upstream('new', upstreams.new, breaker, metrics, log)
  }

  static keyOf(upstreams: Record<Side, UpstreamConfig>, breaker: BreakerConfig): string {
    return JSON.stringify([upstreams, breaker])
  }

  get(side: Side): Upstream {
    return side === 'old' ? this.old : this.new
  }

  async close(): Promise<void> {
    await Promise.all([this.old.close(), this.new.close()])
  }
}
