// Tracing: the OpenTelemetry Node SDK, started only when an OTEL_* variable asks for traces, and
// configured by the standard OTEL_* variables (exporter, endpoint, protocol, headers, sampler,
// service name, resource attributes, batch delays, propagators). When none asks, the SDK is not
// even loaded: spans.ts stays off and the request path pays one undefined check. With OTLP alone
// (the default) spans are recorded by recorder.ts and exported by the worker (export-worker.ts).
// Metrics stay on the Prometheus endpoint (metrics.ts); the SDK starts no metric or log export.
import { format } from 'node:util'
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api'
import type { Resource } from '@opentelemetry/resources'
import type { Sampler } from '@opentelemetry/sdk-trace'
import type { BatchSettings } from './span-batching.ts'
import { ConditionLog, type Condition } from './condition-log.ts'
import type { Logger } from './logger.ts'
import { enableSpans } from './spans.ts'

/** The service.name spans carry unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names another. */
export const DEFAULT_SERVICE_NAME = 'dualread'
/** How long stopping waits for the last spans to reach the collector. */
const SHUTDOWN_TIMEOUT_MS = 5000

const ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const

export interface Tracing {
  /** Where spans go (`otlp http://collector:4318`, `console`...); undefined when tracing is off. */
  readonly destination: string | undefined
  /** Exports what is still queued (bounded by a timeout), then stops the SDK. */
  shutdown(): Promise<void>
}

/** What startTracing gives when nothing asks for traces: nothing to stop. */
export const TRACING_OFF: Tracing = { destination: undefined, shutdown: async () => {} }

export interface TracingOptions {
  /** Default process.env; the SDK itself reads process.env. */
  env?: NodeJS.ProcessEnv
  shutdownTimeoutMs?: number
}

/**
 * Why tracing should start, or undefined when it should not: an OTLP endpoint or an
 * OTEL_TRACES_EXPORTER other than `none`, unless OTEL_SDK_DISABLED is true.
 * @example
 * tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }) // 'otlp http://collector:4318'
 * tracingRequested({ OTEL_SERVICE_NAME: 'dualread' }) // undefined: nothing asks for traces
 */
export function tracingRequested(env: NodeJS.ProcessEnv): string | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined
  const exporters = listOf(env['OTEL_TRACES_EXPORTER'])
  if (exporters[0] === 'none') return undefined
  const endpoint = ENDPOINT_VARIABLES.map(name => env[name]?.trim()).find(v => v)
  if (exporters.length === 0 && endpoint === undefined) return undefined
  const names = exporters.length === 0 ? ['otlp'] : exporters
  return names.map(name => name === 'otlp' ? `otlp ${endpoint === undefined ? '(default endpoint)' : withoutCredentials(endpoint)}` : name).join(', ')
}

/**
 * Starts the SDK when the environment asks for traces; resolves TRACING_OFF (having loaded
 * nothing) when it does not. Export failures are logged as a condition, never once per batch.
 * @example
 * const tracing = await startTracing(log)
 * // ... on SIGTERM, after the process drained:
 * await tracing.shutdown()
 */
export async function startTracing(log: Logger, o: TracingOptions = {}): Promise<Tracing> {
  const env = o.env ?? process.env
  const destination = tracingRequested(env)
  if (destination === undefined) return TRACING_OFF
  const [{ NodeSDK }, core, api, { injectRecorded, RecordingTracer }, { PackingSpanProcessor }, { ExportWorker }] = await Promise.all([
    import('@opentelemetry/sdk-node'), import('@opentelemetry/core'), import('@opentelemetry/api'),
    import('./recorder.ts'), import('./span-batching.ts'), import('./export-worker-client.ts'),
  ])
  const conditions = new ConditionLog(log)
  const level = core.diagLogLevelFromString(process.env['OTEL_LOG_LEVEL']) ?? DiagLogLevel.WARN
  const listen = () => api.diag.setLogger(diagToLog(log, conditions), { logLevel: level, suppressOverrideMessage: true })
  listen()
  const resource = await resourceFromEnv(env)
  // OTLP (the default exporter): spans recorded by dualread's tracer (recorder.ts), encoded and
  // sent by a worker thread. Other exporters: the SDK's tracer, with what the SDK makes for them.
  const recorded = onlyOtlp(env)
  const processor = recorded
    ? new PackingSpanProcessor(new ExportWorker({ resource: { attributes: resource.attributes }, scope: { name: DEFAULT_SERVICE_NAME } }, level), batchSettings(core.getNumberFromEnv))
    : undefined
  // Unset while the SDK's constructor sets its own, which would otherwise print that it replaces ours.
  api.diag.disable()
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
    // None for the SDK's tracer when dualread records the spans: the SDK then sets up propagation alone.
    ...(recorded ? { spanProcessors: [] } : {}),
  })
  // Again after the SDK's constructor, which points diag at the console when OTEL_LOG_LEVEL is set (stdout is for JSON logs).
  listen()
  sdk.start()
  const tracer = processor ? new RecordingTracer(await samplerFromEnv(env), processor, resource) : api.trace.getTracer(DEFAULT_SERVICE_NAME)
  enableSpans({ tracer, w3c: new core.W3CTraceContextPropagator(), ...(processor ? { inject: injectRecorded } : {}) })
  log.info({ destination }, `tracing on: spans go to ${destination}`)
  const timeoutMs = o.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS
  let stopped: Promise<void> | undefined
  return {
    destination,
    shutdown: () => (stopped ??= stop()),
  }

  async function stop(): Promise<void> {
    enableSpans(undefined)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const outcome = await Promise.race([Promise.all([processor?.shutdown(), sdk.shutdown()]), timedOut])
    clearTimeout(timer)
    if (outcome === 'timeout') log.warn({ timeoutMs }, `tracing: the last spans were not exported within ${timeoutMs} ms; they are dropped`)
    conditions.close()
    // Unregistered, so the process (an embedder, a test) can start tracing again.
    api.trace.disable()
    api.logs.disable()
    api.propagation.disable()
    api.context.disable()
    api.diag.disable()
  }
}

/**
 * The resource spans carry, as the Node SDK detects it: its defaults, service.name dualread, then
 * the detectors OTEL_NODE_RESOURCE_DETECTORS names (`env,host,os,process,serviceinstance`, `all`
 * (the default) or `none`), which read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES among others.
 * Made once, so the SDK's tracer and dualread's recorder share it.
 */
export async function resourceFromEnv(env: NodeJS.ProcessEnv): Promise<Resource> {
  const r = await import('@opentelemetry/resources')
  const known = new Map([['host', r.hostDetector], ['os', r.osDetector], ['serviceinstance', r.serviceInstanceIdDetector], ['process', r.processDetector], ['env', r.envDetector]])
  const names = listOf(env['OTEL_NODE_RESOURCE_DETECTORS'])
  const detectors = names.length === 0 || names.includes('all') ? [...known.values()] : names.includes('none') ? [] : names.flatMap(name => {
    const detector = known.get(name)
    if (!detector) diag.warn(`Invalid resource detector "${name}" specified in the environment variable OTEL_NODE_RESOURCE_DETECTORS`)
    return detector ?? []
  })
  const resource = r.defaultResource().merge(r.resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME })).merge(r.detectResources({ detectors }))
  // Some attributes (host.id) are read asynchronously; a span is exported with all of them.
  await resource.waitForAsyncAttributes?.()
  return resource
}

/** The sampler OTEL_TRACES_SAMPLER (and OTEL_TRACES_SAMPLER_ARG) name, by the SDK's names; parent-based always-on by default. */
export async function samplerFromEnv(env: NodeJS.ProcessEnv): Promise<Sampler> {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace')
  const ratio = () => {
    const arg = env['OTEL_TRACES_SAMPLER_ARG']?.trim()
    const value = arg ? Number(arg) : NaN
    if (Number.isNaN(value)) diag.error('OTEL_TRACES_SAMPLER_ARG is blank, defaulting to 1.')
    else if (value < 0 || value > 1) diag.error(`OTEL_TRACES_SAMPLER_ARG=${value} was given, but it is out of range ([0..1]), defaulting to 1.`)
    return value >= 0 && value <= 1 ? value : 1
  }
  const name = env['OTEL_TRACES_SAMPLER']?.trim()
  switch (name) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio())
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) })
    case undefined: case '': case 'parentbased_always_on': break
    default: diag.error(`unknown OTEL_TRACES_SAMPLER value "${name}", using default`)
  }
  return new ParentBasedSampler({ root: new AlwaysOnSampler() })
}

const listOf = (value: string | undefined): string[] => (value ?? '').split(',').map(s => s.trim()).filter(s => s !== '')

/** Whether OTEL_TRACES_EXPORTER asks for OTLP alone (or names nothing, which means OTLP). */
function onlyOtlp(env: NodeJS.ProcessEnv): boolean {
  const names = [...new Set(listOf(env['OTEL_TRACES_EXPORTER']))]
  return names.length === 0 || (names.length === 1 && names[0] === 'otlp')
}

/**
 * The OTEL_BSP_* variables, as the SDK reads them for the processors it makes itself; a value that
 * is not a finite number, or a size under 1, leaves that setting at its default.
 */
export function batchSettings(read: (name: string) => number | undefined): BatchSettings {
  const settings = {
    maxQueueSize: [read('OTEL_BSP_MAX_QUEUE_SIZE'), 1],
    scheduledDelayMillis: [read('OTEL_BSP_SCHEDULE_DELAY'), 0],
    exportTimeoutMillis: [read('OTEL_BSP_EXPORT_TIMEOUT'), 0],
    maxExportBatchSize: [read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'), 1],
  } as const
  const usable = Object.entries(settings).flatMap(([name, [v, min]]) => v !== undefined && Number.isFinite(v) && v >= min ? [[name, v]] : [])
  return Object.fromEntries(usable) as BatchSettings
}

const failing = (): Condition => ({
  fields: {},
  began: 'tracing: OpenTelemetry reported an error (a span export that fails drops its spans)',
  summary: (n, s) => `tracing: ${n} more errors from OpenTelemetry (last ${s} s)`,
})

/**
 * OpenTelemetry's own diagnostics as log lines. Errors (a failed export, on every batch while the
 * collector is away) and each kind of warning are conditions, never a line per batch.
 */
function diagToLog(log: Logger, conditions: ConditionLog): DiagLogger {
  const text = (message: string, args: unknown[]) => `tracing: ${format(message, ...args)}`
  const detail = (message: string, ...args: unknown[]) => log.debug(text(message, args))
  return {
    error: (message, ...args) => conditions.event('otel-error', failing, { error: text(message, args) }),
    // Keyed without numbers: "Dropped 512 spans" and "Dropped 2048 spans" are one condition.
    warn: (message, ...args) => conditions.event(`otel-warn:${message.replace(/\d+/g, 'N').slice(0, 60)}`, () => ({
      fields: {}, began: text(message, args), summary: (n, s) => `tracing: ${n} more such warnings from OpenTelemetry (last ${s} s)`,
    })),
    info: detail,
    debug: detail,
    verbose: detail,
  }
}

/** An endpoint as it may be logged: no userinfo, no query string. */
function withoutCredentials(endpoint: string): string {
  try {
    const u = new URL(endpoint)
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`
  } catch {
    return '(an endpoint that is not a URL)'
  }
}
