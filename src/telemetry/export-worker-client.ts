// The span exporter the BatchSpanProcessor is given while tracing exports over OTLP: each batch of
// the recorder's spans (recorder.ts) goes as plain data to the export worker (export-worker.ts),
// which encodes and sends it. The request path records spans; the encoding runs off its event loop.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { diag, DiagLogLevel } from '@opentelemetry/api'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace'
import type { ExportWorkerData, FromWorker, ToWorker } from './export-worker.ts'
import { clockOrigin, recordOf } from './recorder.ts'
import type { SpanSource } from './span-record.ts'
import { SpanPacker } from './span-packing.ts'

/** The worker module beside this one: export-worker.ts from source, export-worker.js from the build. */
const WORKER = new URL(`./export-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

export class WorkerSpanExporter implements SpanExporter {
  #worker: Worker
  #next = 0
  #pending = new Map<number, (outcome: { ok: true } | { ok: false, error: string }) => void>()
  #stopped: Promise<void> | undefined
  readonly #packer = new SpanPacker()

  /**
   * `source`: the resource and scope of every span; `logLevel`: what of the exporter's diagnostics
   * to pass on; `worker`: the worker module (export-worker.ts; a test gives one that fails).
   */
  constructor(source: SpanSource, logLevel: DiagLogLevel = DiagLogLevel.WARN, worker: URL = WORKER) {
    const workerData: ExportWorkerData = { logLevel, source }
    // The OTEL_* variables as this thread sees them now (an embedder or a test may have set them in process.env).
    this.#worker = new Worker(worker, { env: { ...process.env }, workerData })
    this.#worker.on('message', (m: FromWorker) => {
      if ('diag' in m) return diag[m.diag](m.message)
      const settle = this.#pending.get(m.id)!
      this.#pending.delete(m.id)
      settle(m)
    })
    this.#worker.on('error', err => {
      diag.error(`the trace export worker stopped: ${err.message}`)
      for (const settle of this.#pending.values()) settle({ ok: false, error: err.message })
      this.#pending.clear()
    })
    // Never what keeps a process alive (after its listeners, which would hold it again): stopping the SDK flushes first.
    this.#worker.unref()
  }

  #ask(message: (id: number) => ToWorker, transfer: ArrayBuffer[] = []): Promise<{ ok: true } | { ok: false, error: string }> {
    const id = this.#next++
    return new Promise(resolve => {
      this.#pending.set(id, resolve)
      this.#worker.postMessage(message(id), transfer)
    })
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.#stopped) return resultCallback({ code: ExportResultCode.FAILED, error: new Error('the trace exporter is stopped') })
    // Packed into one buffer, moved to the worker rather than copied (span-packing.ts).
    const batch = this.#packer.pack({ origin: clockOrigin(), spans: spans.map(recordOf) })
    void this.#ask(id => ({ id, batch }), [batch.bytes]).then(outcome => resultCallback(
      outcome.ok ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error(outcome.error) }))
  }

  /** Lets the worker's exporter finish what it sends; the worker then ends by itself. */
  shutdown(): Promise<void> {
    return this.#stopped ??= this.#ask(id => ({ id, shutdown: true })).then(() => undefined)
  }

  async forceFlush(): Promise<void> {}
}
