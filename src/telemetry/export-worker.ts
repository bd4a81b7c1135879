// The trace export worker: the OTLP exporter the OTEL_* variables choose (protocol, endpoint,
// headers, timeout, compression), run off the proxy's event loop. Encoding a span for OTLP costs
// more than making it; here it costs the request path nothing. Each message is one batch from
// the BatchSpanProcessor; the answer says how its export went (export-worker-client.ts).
import { parentPort, workerData } from 'node:worker_threads'
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { SpanExporter } from '@opentelemetry/sdk-trace'
import { fromBatch, type SpanBatch } from './span-record.ts'

/** What the worker is started with: the main thread's diagnostic level (OTEL_LOG_LEVEL, default warn). */
export interface ExportWorkerData { logLevel: DiagLogLevel }

export type ToWorker = { id: number, batch: SpanBatch } | { id: number, shutdown: true }
export type FromWorker =
  | { id: number, ok: true }
  | { id: number, ok: false, error: string }
  | { diag: 'error' | 'warn' | 'info' | 'debug' | 'verbose', message: string }

/** The exporter for OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or OTEL_EXPORTER_OTLP_PROTOCOL), as the Node SDK chooses it. */
export async function otlpExporter(env: NodeJS.ProcessEnv = process.env): Promise<SpanExporter> {
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'])?.trim() || 'http/protobuf'
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter()
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  if (protocol !== 'http/protobuf') diag.warn(`Unsupported OTLP traces protocol: "${protocol}". Using http/protobuf.`)
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
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
  diag.setLogger(diagToParent(post), { logLevel: (workerData as ExportWorkerData).logLevel, suppressOverrideMessage: true })
  const exporter = await otlpExporter()
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
    exporter.export(fromBatch(m.batch), result => post(answer(m.id, result)))
  })
}
