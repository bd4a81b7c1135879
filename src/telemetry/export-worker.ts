// The trace export worker: the OTLP exporter the OTEL_* variables choose (protocol, endpoint,
// headers, timeout, compression), run off the proxy's event loop. Encoding spans for OTLP costs
// about what recording them does; here it costs the request path nothing. Each message is one batch,
// packed as its spans ended (span-batching.ts, span-packing.ts); the answer says how its export went
// (export-worker-client.ts).
import { parentPort, workerData } from 'node:worker_threads'
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { SpanExporter } from '@opentelemetry/sdk-trace'
import { fromBatch, type SpanBatch, type SpanSource } from './span-record.ts'
import { SpanUnpacker, type PackedBatch } from './span-packing.ts'

/** What the worker is started with: the main thread's diagnostic level (OTEL_LOG_LEVEL, default warn), and the resource and scope of every span. */
export interface ExportWorkerData { logLevel: DiagLogLevel, source: SpanSource }

export type ToWorker = { id: number, batch: PackedBatch } | { id: number, shutdown: true }
export type FromWorker =
  | { id: number, ok: true }
  | { id: number, ok: false, error: string }
  | { diag: 'error' | 'warn' | 'info' | 'debug' | 'verbose', message: string }

/** An exporter of span batches as they cross from the main thread. */
export interface BatchExporter {
  export(batch: SpanBatch, resultCallback: (result: ExportResult) => void): void
  shutdown(): Promise<void>
}

export type OtlpProtocol = 'grpc' | 'http/json' | 'http/protobuf'

/** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or OTEL_EXPORTER_OTLP_PROTOCOL), as the Node SDK reads it. */
export function otlpProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'])?.trim() || 'http/protobuf'
  if (protocol === 'grpc' || protocol === 'http/json' || protocol === 'http/protobuf') return protocol
  diag.warn(`Unsupported OTLP traces protocol: "${protocol}". Using http/protobuf.`)
  return 'http/protobuf'
}

/**
 * The exporter for `protocol`, as the Node SDK makes it from the OTEL_EXPORTER_OTLP_* variables.
 * http/protobuf (the default) is the SDK's OTLP/HTTP transport given dualread's encoder
 * (otlp-protobuf.ts); http/json and grpc are the SDK's exporters, given the batch as spans.
 */
export async function otlpExporter(source: SpanSource, protocol: OtlpProtocol): Promise<BatchExporter> {
  const sdkExporter = (exporter: SpanExporter): BatchExporter => ({
    export: (batch, done) => exporter.export(fromBatch(batch, source), done),
    shutdown: () => exporter.shutdown(),
  })
  if (protocol === 'grpc') return sdkExporter(new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter())
  if (protocol === 'http/json') return sdkExporter(new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter())
  const [{ OTLPExporterBase }, { convertLegacyHttpOptions, createOtlpHttpExportDelegate }, { ProtobufTraceSerializer }, { OtlpProtobufEncoder }] = await Promise.all([
    import('@opentelemetry/otlp-exporter-base'), import('@opentelemetry/otlp-exporter-base/node-http'), import('@opentelemetry/otlp-transformer'),
    import('./otlp-protobuf.ts'),
  ])
  const encoder = new OtlpProtobufEncoder(source)
  // What the SDK's http/protobuf exporter is made of, its serializer aside.
  const serializer = { serializeRequest: (batch: SpanBatch) => encoder.encode(batch), deserializeResponse: ProtobufTraceSerializer.deserializeResponse }
  const options = convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' })
  const counted = { name: 'span' as const, countItems: (batch: SpanBatch) => batch.spans.length }
  return new OTLPExporterBase(createOtlpHttpExportDelegate(options, serializer, 'otlp_http_span_exporter', counted, undefined))
}

/** How an export went, as the main thread is told it. */
export function answer(id: number, result: ExportResult): FromWorker {
  if (result.code === ExportResultCode.SUCCESS) return { id, ok: true }
  return { id, ok: false, error: result.error?.message ?? 'export failed' }
}

/** The exporter's diagnostics go to the main thread, which logs them like its own. */
export function diagToParent(post: (m: FromWorker) => void): DiagLogger {
  const send = (level: 'error' | 'warn' | 'info' | 'debug' | 'verbose') => (message: string, ...args: unknown[]) =>
    post({ diag: level, message: [message, ...args.map(a => a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))].join(' ') })
  return { error: send('error'), warn: send('warn'), info: send('info'), debug: send('debug'), verbose: send('verbose') }
}

if (parentPort) {
  const port = parentPort
  const post = (m: FromWorker) => port.postMessage(m)
  // The main thread's level: below it, the exporter's debug lines (one per export, with every
  // span in it as JSON) would be made, posted and dropped on every batch.
  const { logLevel, source } = workerData as ExportWorkerData
  diag.setLogger(diagToParent(post), { logLevel, suppressOverrideMessage: true })
  const exporter = await otlpExporter(source, otlpProtocol(process.env))
  const unpacker = new SpanUnpacker()
  port.on('message', (m: ToWorker) => {
    if ('shutdown' in m) {
      // Then the port closes and the worker ends by itself, its exporter's sockets closed.
      // (A shutdown that fails is the worker's uncaught error, which the main thread logs.)
      void exporter.shutdown().finally(() => {
        post({ id: m.id, ok: true })
        port.close()
      })
      return
    }
    exporter.export(unpacker.unpack(m.batch), result => post(answer(m.id, result)))
  })
}
