// The tracer dualread records its spans with while they go to OTLP: an OpenTelemetry API Tracer
// whose spans keep only what the OTLP encoding needs and become, as they end, one plain tuple
// each (span-record.ts), packed for the export worker (span-batching.ts). The SDK's own span is
// an object of some forty fields that cleans its attributes and tells its processors at start and
// end, and was then copied into that tuple anyway; on a read of two spans that was most of what
// tracing cost the request path (README: What the sidecar costs). Sampling is the SDK's (its
// samplers, as OTEL_TRACES_SAMPLER names them), context and propagation the API's (with the W3C
// headers of its own spans written directly: injectRecorded); the span, its ids (span-ids.ts) and
// the batching (span-batching.ts) are dualread's own.
import {
  context as contextApi, diag, INVALID_SPAN_CONTEXT, propagation, SamplingDecision, SpanKind, SpanStatusCode, trace, TraceFlags,
  type Attributes, type AttributeValue, type Context, type Exception, type Link, type Span, type SpanContext,
  type SpanOptions, type SpanStatus, type TimeInput, type Tracer,
} from '@opentelemetry/api'
import { hrTimeToMilliseconds, isAttributeValue, isTimeInputHrTime, isTracingSuppressed } from '@opentelemetry/core'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan, Sampler, SpanProcessor } from '@opentelemetry/sdk-trace'
import { PooledIdGenerator } from './span-ids.ts'
import type { PlainEvent, PlainLink, SpanRecord } from './span-record.ts'

/** Unix milliseconds at which performance.now() read 0, as of now (the two clocks drift apart over days). */
export const clockOrigin = (): number => Date.now() - performance.now()

/** A time the API was given, on the recorder's clock (performance.now()). */
function onClock(time: TimeInput | undefined): number {
  if (time === undefined) return performance.now()
  // As the SDK reads a number: no later than now on the monotonic clock, else Unix milliseconds.
  if (typeof time === 'number') return time <= performance.now() ? time : time - clockOrigin()
  return (isTimeInputHrTime(time) ? hrTimeToMilliseconds(time) : time.getTime()) - clockOrigin()
}

const plainLink = (l: Link): PlainLink => {
  const c = l.context
  // Checked as a span's own attributes are: what crosses to the export worker must be a value the API allows.
  return [[c.traceId, c.spanId, c.traceFlags, c.isRemote === true, c.traceState?.serialize()], l.attributes && valid(l.attributes)]
}

/** Sets one attribute, unless the API does not allow its value (the SDK leaves such values out too). */
function put(into: Attributes, key: string, value: unknown): void {
  if (isAttributeValue(value)) into[key] = value
  else diag.warn(`Invalid attribute value set for key: ${key}`)
}

function valid(attributes: Attributes | undefined, into: Attributes = {}): Attributes {
  for (const key in attributes) put(into, key, attributes[key])
  return into
}

/** What a span ends into: the processor, and the resource it asks a span for. */
interface Sink {
  processor: SpanProcessor
  resource: Resource
}

export class RecordingTracer implements Tracer {
  readonly #sampler: Sampler
  readonly #ids = new PooledIdGenerator()
  readonly #sink: Sink

  /** `processor` is given every span once it ends (span-batching.ts keeps the sampled ones). */
  constructor(sampler: Sampler, processor: SpanProcessor, resource: Resource) {
    this.#sampler = sampler
    this.#sink = { processor, resource }
  }

  startSpan(name: string, options: SpanOptions = {}, context: Context = contextApi.active()): Span {
    if (options.root) context = trace.deleteSpan(context)
    if (isTracingSuppressed(context)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
    const parentSpan = trace.getSpan(context)
    const parent = parentSpan?.spanContext()
    // A span made here has ids the generator gave it, or a parent's already checked: no need to check them again.
    const hasParent = parent !== undefined && (isOwn(parentSpan) || trace.isSpanContextValid(parent))
    const traceId = hasParent ? parent.traceId : this.#ids.generateTraceId()
    const kind = options.kind ?? SpanKind.INTERNAL
    const attributes = valid(options.attributes)
    const links = options.links ?? []
    const sampling = this.#sampler.shouldSample(context, traceId, name, kind, attributes, links)
    const spanContext: SpanContext = {
      traceId,
      spanId: this.#ids.generateSpanId(),
      traceFlags: sampling.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
      traceState: sampling.traceState ?? (hasParent ? parent.traceState : undefined),
    }
    if (sampling.decision === SamplingDecision.NOT_RECORD) return new UnsampledSpan(spanContext)
    valid(sampling.attributes, attributes)
    return new RecordedSpan(this.#sink, spanContext, hasParent ? parent : undefined, name, kind, attributes, links.map(plainLink), onClock(options.startTime))
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest.at(-1) as F
    const options = rest.length > 1 ? rest[0] as SpanOptions : {}
    const parent = rest.length > 2 ? rest[1] as Context : contextApi.active()
    const span = this.startSpan(name, options, parent)
    return contextApi.with(trace.setSpan(parent, span), fn as (span: Span) => ReturnType<F>, undefined, span)
  }
}

/**
 * A span being recorded. Once ended it goes to the processor as it is, which reads its
 * spanContext() and asks for its record.
 */
export class RecordedSpan implements Span {
  readonly resource: Resource
  readonly #sink: Sink
  readonly #context: SpanContext
  readonly #parent: SpanContext | undefined
  readonly #kind: SpanKind
  readonly #start: number
  readonly #attributes: Attributes
  #name: string
  #links: PlainLink[]
  #events: PlainEvent[] = []
  #status: SpanStatus = { code: SpanStatusCode.UNSET }
  #ended = false
  #end = 0

  constructor(sink: Sink, context: SpanContext, parent: SpanContext | undefined, name: string, kind: SpanKind, attributes: Attributes, links: PlainLink[], start: number) {
    this.#sink = sink
    this.resource = sink.resource
    this.#context = context
    this.#parent = parent
    this.#name = name
    this.#kind = kind
    this.#attributes = attributes
    this.#links = links
    this.#start = start
  }

  spanContext(): SpanContext {
    return this.#context
  }

  isRecording(): boolean {
    return !this.#ended
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.#ended) put(this.#attributes, key, value)
    return this
  }

  setAttributes(attributes: Attributes): this {
    if (!this.#ended) valid(attributes, this.#attributes)
    return this
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.#ended) return this
    // The API's two forms: (name, time) and (name, attributes, time).
    const timeOnly = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || isTimeInputHrTime(attributesOrTime)
    this.#events.push([name, onClock(timeOnly ? attributesOrTime : time), timeOnly ? undefined : valid(attributesOrTime as Attributes | undefined)])
    return this
  }

  addLink(link: Link): this {
    if (!this.#ended) this.#links.push(plainLink(link))
    return this
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link)
    return this
  }

  /** As the SDK: an OK status is final, UNSET changes nothing, a message only with ERROR. */
  setStatus(status: SpanStatus): this {
    if (this.#ended || status.code === SpanStatusCode.UNSET || this.#status.code === SpanStatusCode.OK) return this
    this.#status = status.code === SpanStatusCode.ERROR && typeof status.message === 'string' ? { code: status.code, message: status.message } : { code: status.code }
    return this
  }

  updateName(name: string): this {
    if (!this.#ended) this.#name = name
    return this
  }

  /** An `exception` event, with the attributes the SDK gives it. */
  recordException(exception: Exception, time?: TimeInput): void {
    const e = typeof exception === 'string' ? { message: exception } : exception
    const type = 'code' in e && e.code !== undefined ? String(e.code) : e.name
    if (!type && !e.message) return diag.warn(`Failed to record an exception ${String(exception)}`)
    const attributes: Attributes = {}
    if (type) attributes['exception.type'] = type
    if (e.message) attributes['exception.message'] = e.message
    if (e.stack) attributes['exception.stacktrace'] = e.stack
    this.addEvent('exception', attributes, time)
  }

  end(endTime?: TimeInput): void {
    const c = this.#context
    if (this.#ended) return diag.error(`${this.#name} ${c.traceId}-${c.spanId} - You can only call end() on a span once.`)
    this.#ended = true
    this.#end = onClock(endTime)
    this.#sink.processor.onEnd(this as unknown as ReadableSpan)
  }

  /** The ended span as plain data. */
  toRecord(): SpanRecord {
    const c = this.#context
    const p = this.#parent
    return [
      this.#name, this.#kind, c.traceId, c.spanId, c.traceFlags, c.traceState?.serialize(),
      p === undefined ? '' : p.spanId, p?.isRemote === true,
      this.#start, this.#end, this.#status.code, this.#status.message,
      this.#attributes, this.#links.length === 0 ? 0 : this.#links, this.#events.length === 0 ? 0 : this.#events,
    ]
  }
}

/**
 * A span the sampler did not record: a context to propagate and nothing else, as the API's
 * non-recording span, but known to be the recorder's (its ids are valid: see injectRecorded).
 */
class UnsampledSpan implements Span {
  readonly #context: SpanContext

  constructor(context: SpanContext) {
    this.#context = context
  }

  spanContext(): SpanContext {
    return this.#context
  }

  isRecording(): boolean {
    return false
  }

  setAttribute(): this { return this }
  setAttributes(): this { return this }
  addEvent(): this { return this }
  addLink(): this { return this }
  addLinks(): this { return this }
  setStatus(): this { return this }
  updateName(): this { return this }
  recordException(): void {}
  end(): void {}
}

const isOwn = (span: Span | undefined): span is RecordedSpan | UnsampledSpan => span instanceof RecordedSpan || span instanceof UnsampledSpan

/**
 * Writes the W3C trace context of `context` into `carrier` as the W3C propagator would, when the
 * context's span is one of the recorder's, sampled or not (its ids need no checking), and the
 * context carries nothing else a propagator would write (no baggage, tracing not suppressed);
 * false, having written nothing, otherwise. The API's inject goes through the composite propagator, which checks both ids with
 * regexes and asks every propagator in turn, on every upstream call.
 */
export function injectRecorded(context: Context, carrier: Record<string, unknown>): boolean {
  const span = trace.getSpan(context)
  if (!isOwn(span) || propagation.getBaggage(context) !== undefined || isTracingSuppressed(context)) return false
  const c = span.spanContext()
  carrier['traceparent'] = `00-${c.traceId}-${c.spanId}-0${c.traceFlags & TraceFlags.SAMPLED}`
  if (c.traceState) carrier['tracestate'] = c.traceState.serialize()
  return true
}

/** The record of an ended span the processor packs (always a RecordedSpan: the recorder is its only source). */
export const recordOf = (span: ReadableSpan): SpanRecord => (span as unknown as RecordedSpan).toRecord()
