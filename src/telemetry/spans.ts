// The spans dualread emits, named and given their attributes in one place; call sites stay one
// line each. Everything here is a no-op until tracing.ts switches spans on (never, unless an
// OTEL_* variable asks for traces): each helper then returns undefined after one check, and
// the request path keeps passing the client's traceparent through untouched.
// What a span carries is operational: rule, resource type, side, reason, status, class and
// counts. Never a body, an object id, a tenant, a path with ids in it, or a header value.
import type { IncomingHttpHeaders } from 'node:http'
import {
  defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace,
  TraceFlags, type Context, type Link, type Span, type SpanContext, type TextMapPropagator, type Tracer,
} from '@opentelemetry/api'

/**
 * Attribute names: OpenTelemetry's HTTP conventions where they fit, `dualread.*` for the rest.
 * Every attribute is paid for on every span exported (the OTLP encoding is most of what a span
 * costs the proxy), so what a span's name already says (method, route, upstream) is not repeated.
 */
export const ATTR = {
  status: 'http.response.status_code',
  errorType: 'error.type',
  rule: 'dualread.rule',
  resourceType: 'dualread.resource_type',
  servedBy: 'dualread.served_by',
  reason: 'dualread.reason',
  fallback: 'dualread.fallback',
  role: 'dualread.role',
  shadowSkipped: 'dualread.shadow.skipped',
  result: 'dualread.parity.result',
  pointerCount: 'dualread.parity.pointer_count',
  syncSource: 'dualread.sync.source',
  syncTarget: 'dualread.sync.target',
  syncOp: 'dualread.sync.op',
  syncConflict: 'dualread.sync.conflict',
  cutoverRun: 'dualread.cutover.run',
  cutoverFrom: 'dualread.cutover.from',
  cutoverTo: 'dualread.cutover.to',
  cutoverTrigger: 'dualread.cutover.trigger',
  cutoverResult: 'dualread.cutover.result',
} as const

/** Links kept per synced key: the writes that caused its apply, newest last. */
const LINKS_PER_KEY = 8

interface Enabled {
  tracer: Tracer
  /** W3C trace context, whatever OTEL_PROPAGATORS says: the format change records keep. */
  w3c: TextMapPropagator
  /**
   * Writes the W3C headers of a context whose span the tracer recorded, as the W3C propagators
   * would, or says false (recorder.ts injectRecorded). Used only while the propagators in force
   * are W3C trace context (and baggage): for any other, the API's inject does it all.
   */
  inject?: (context: Context, carrier: Record<string, unknown>) => boolean
}

/** The fields of OTEL_PROPAGATORS `tracecontext,baggage` (the default) and of `tracecontext`. */
const W3C_FIELDS = ['traceparent,tracestate,baggage', 'traceparent,tracestate']

let on: Enabled | undefined
/**
 * The headers the propagators in force read and write (OTEL_PROPAGATORS), asked once when spans
 * are switched on (the API copies the list on every call); kept after they are switched off,
 * for the upstream calls of reads still in flight.
 */
let fields: readonly string[] = []
/** The enabled tracer's direct W3C injection, while the propagators in force write W3C headers only. */
let inject: Enabled['inject']

/** Called by tracing.ts once the SDK runs (and with undefined when it stops). */
export function enableSpans(enabled: Enabled | undefined): void {
  on = enabled
  // (Reads still in flight after a stop send their context through the API, which writes nothing then.)
  inject = undefined
  if (!enabled) return
  fields = propagation.fields()
  if (W3C_FIELDS.includes(fields.join(','))) inject = enabled.inject
}

/** A span and the context that has it as the parent of what comes next. */
export interface Traced {
  span: Span
  context: Context
}

/** The key under which the API keeps a context's span (`createContextKey` is `Symbol.for`). */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN')

/**
 * A context that is its parent and one value more. The API's own copies its parent's map and
 * makes three closures for every span; this is one small object, read through the chain
 * (a request's contexts are two or three deep).
 */
class Layer implements Context {
  readonly #parent: Context
  readonly #key: symbol
  readonly #value: unknown

  constructor(parent: Context, key: symbol, value: unknown) {
    this.#parent = parent
    this.#key = key
    this.#value = value
  }

  getValue(key: symbol): unknown {
    return key === this.#key ? this.#value : this.#parent.getValue(key)
  }

  setValue(key: symbol, value: unknown): Context {
    return new Layer(this, key, value)
  }

  deleteValue(key: symbol): Context {
    return new Layer(this, key, undefined)
  }
}

function traced(span: Span, parent: Context): Traced {
  return { span, context: new Layer(parent, SPAN_KEY, span) }
}

/**
 * Request span names by method, then route: made once each, not per request (the packer finds a
 * name's table entry by it, and a string made anew is hashed anew). Both keys are strings that
 * live on: Node's method names and the policy's route patterns.
 */
const requestSpanNames = new Map<string, Map<string, string>>()
/** Routes come from the policy and methods from llhttp's fixed list; the bound is for a policy reloaded again and again. */
const MAX_REQUEST_SPAN_NAMES = 1024
let requestSpanNameCount = 0

function requestSpanName(method: string, route: string | undefined): string {
  if (route === undefined) return method
  let byRoute = requestSpanNames.get(method)
  const known = byRoute?.get(route)
  if (known !== undefined) return known
  const name = `${method} ${route}`
  if (requestSpanNameCount === MAX_REQUEST_SPAN_NAMES) return name
  if (!byRoute) requestSpanNames.set(method, byRoute = new Map())
  byRoute.set(route, name)
  requestSpanNameCount++
  return name
}

/**
 * The server span of one proxied request, continued from the client's trace context when it
 * sent one. Named by method and route template (`GET /api/v1/tenants/:tenant/alert-rules/:id`),
 * never by the path itself; just the method when no resource matched.
 */
export function startRequestSpan(headers: IncomingHttpHeaders, method: string, route: string | undefined): Traced | undefined {
  if (!on) return undefined
  // Most clients send no trace context: nothing to extract then.
  const parent = fields.some(field => headers[field] !== undefined) ? propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter) : ROOT_CONTEXT
  return traced(on.tracer.startSpan(requestSpanName(method, route), { kind: SpanKind.SERVER }, parent), parent)
}

/** What the proxy decided and answered, on the request span (the labels of dualread_requests_total). */
export function recordDecision(span: Span, rule: string, resourceType: string, servedBy: string, reason: string, status: number): void {
  if (!span.isRecording()) return
  // One call each: an object literal with computed keys is built, and then walked, key by key.
  span.setAttribute(ATTR.rule, rule).setAttribute(ATTR.resourceType, resourceType).setAttribute(ATTR.servedBy, servedBy)
    .setAttribute(ATTR.reason, reason).setAttribute(ATTR.fallback, reason === 'fallback').setAttribute(ATTR.status, status)
  if (status >= 500) {
    span.setAttribute(ATTR.errorType, String(status))
    span.setStatus({ code: SpanStatusCode.ERROR })
  }
}

/** Ends a span once `work` settles; a rejection marks it failed (by error code, never its body). */
export function endWith<T>(span: Span, work: Promise<T>, onValue: (span: Span, value: T) => void): Promise<T> {
  return work.then(value => {
    onValue(span, value)
    span.end()
    return value
  }, (err: unknown) => {
    fail(span, err)
    span.end()
    throw err
  })
}

function fail(span: Span, err: unknown): void {
  const e = err as Error & { code?: string, statusCode?: number }
  if (e.statusCode !== undefined) span.setAttribute(ATTR.status, e.statusCode)
  span.setAttribute(ATTR.errorType, errorType(e))
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message })
}

/** A failure's low-cardinality name: the HTTP status, else the error code (ECONNREFUSED, EOPENBREAKER), else the class. */
export function errorType(e: Error & { code?: string, statusCode?: number }): string {
  return String(e.statusCode ?? e.code ?? e.name)
}

/**
 * One call to an upstream, `upstream old` or `upstream new`: a primary attempt, a fallback, a
 * shadow read or a recheck. Undefined in a trace that is not sampled: no span would be kept, so
 * none is made (the upstream is sent the request's context, unsampled, instead).
 */
export function startUpstreamSpan(parent: Context, side: string, role: string): Traced | undefined {
  if (!trace.getSpan(parent)!.isRecording()) return undefined
  return traced(on!.tracer.startSpan(`upstream ${side}`, { kind: SpanKind.CLIENT, attributes: { [ATTR.role]: role } }, parent), parent)
}

/**
 * `headers` with the trace context of `context` in place of the client's (the upstream sees a
 * child of the proxy's span, in the trace the client started).
 */
export function withTraceContext(headers: Record<string, string | string[]>, context: Context): Record<string, string | string[]> {
  const out = { ...headers }
  // Deleted only when there: a delete turns the object into a slow dictionary for undici to read.
  for (const field of fields) if (out[field] !== undefined) delete out[field]
  if (!inject?.(context, out)) propagation.inject(context, out, defaultTextMapSetter)
  return out
}

/** The W3C traceparent of a sampled span, kept with the change record so the sync can link to it. */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext()
  if (!on || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined
  const carrier: Record<string, string> = {}
  on.w3c.inject(trace.setSpanContext(ROOT_CONTEXT, sc), carrier, defaultTextMapSetter)
  return carrier['traceparent']
}

function spanContextOf(traceparent: string): SpanContext | undefined {
  return trace.getSpanContext(on!.w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter))
}

/** The shadow read of a served read (`shadow new`): a child of its request span, ending once compared (or skipped). */
export function startShadowSpan(parent: Context | undefined, side: string): Traced | undefined {
  if (!parent) return undefined
  return traced(on!.tracer.startSpan(`shadow ${side}`, {}, parent), parent)
}

/** How a shadow read ended: its parity result, or why it was not compared. */
export function endShadowSpan(shadow: Traced | undefined, outcome: { result: string } | { skipped: string }): void {
  if (!shadow) return
  shadow.span.setAttribute('result' in outcome ? ATTR.result : ATTR.shadowSkipped, 'result' in outcome ? outcome.result : outcome.skipped)
  shadow.span.end()
}

/** One comparison of two answers (in a worker thread: the span covers the wait for it): its class and how many pointers differ (never which values). */
export async function traceComparison<T extends { result: string, pointers: readonly unknown[] }>(shadow: Traced | undefined, compare: () => Promise<T>): Promise<T> {
  if (!shadow) return compare()
  const span = on!.tracer.startSpan('compare', {}, shadow.context)
  const c = await compare()
  span.setAttributes({ [ATTR.result]: c.result, [ATTR.pointerCount]: c.pointers.length })
  span.end()
  return c
}

/**
 * Trace contexts of the writes behind each key the change stream names, until the key is
 * applied: the sync's spans link to them. Bounded; empty while tracing is off.
 */
export class WriteLinks {
  #byKey = new Map<string, string[]>()
  #max: number

  constructor(maxKeys = 10_000) {
    this.#max = maxKeys
  }

  note(key: string, traceparent: string | undefined): void {
    if (!on || traceparent === undefined) return
    const list = this.#byKey.get(key) ?? []
    this.#byKey.delete(key)
    this.#byKey.set(key, [...list, traceparent].slice(-LINKS_PER_KEY))
    if (this.#byKey.size > this.#max) this.#byKey.delete(this.#byKey.keys().next().value!)
  }

  /** The links for `key`, forgotten once taken. */
  take(key: string): Link[] {
    const list = this.#byKey.get(key)
    if (!list) return []
    this.#byKey.delete(key)
    return list.flatMap(traceparent => {
      const sc = spanContextOf(traceparent)
      return sc ? [{ context: sc }] : []
    })
  }
}

/** The sync's apply of one key (a root span, linked to the writes that caused it). */
export function startApplySpan(resourceType: string, source: string, target: string, links: Link[]): Span | undefined {
  if (!on) return undefined
  const attributes = { [ATTR.resourceType]: resourceType, [ATTR.syncSource]: source, [ATTR.syncTarget]: target }
  return on.tracer.startSpan('sync apply', { attributes, links, root: true }, ROOT_CONTEXT)
}

/** What the apply did: upsert, delete, unchanged or skip, and whether the target had its own change. */
export function recordApply(span: Span, outcome: { op: string, conflict: boolean }): void {
  span.setAttributes({ [ATTR.syncOp]: outcome.op, [ATTR.syncConflict]: outcome.conflict })
}

/** A cutover run as a span, with one child span per step. */
export interface CutoverTrace {
  step(name: string): void
  /** Once per run: `switched`, or `refused`, `aborted` or `superseded` and why (the span is then an error). */
  end(result: string, reason?: string): void
}

const NO_CUTOVER_TRACE: CutoverTrace = { step() {}, end() {} }

export function startCutoverTrace(run: string, from: string, to: string, trigger: string): CutoverTrace {
  if (!on) return NO_CUTOVER_TRACE
  const { tracer } = on
  const attributes = { [ATTR.cutoverRun]: run, [ATTR.cutoverFrom]: from, [ATTR.cutoverTo]: to, [ATTR.cutoverTrigger]: trigger }
  const root = traced(tracer.startSpan('cutover', { attributes, root: true }, ROOT_CONTEXT), ROOT_CONTEXT)
  let current: Span | undefined
  return {
    step(name) {
      current?.end()
      current = tracer.startSpan(`cutover ${name}`, {}, root.context)
    },
    end(result, reason) {
      current!.end() // a run's first step (precheck) starts with it
      root.span.setAttribute(ATTR.cutoverResult, result)
      if (reason !== undefined) root.span.setStatus({ code: SpanStatusCode.ERROR, message: reason })
      root.span.end()
    },
  }
}
