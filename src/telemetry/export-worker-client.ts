// The export worker's main-thread side while tracing exports over OTLP: each batch of the
// recorder's spans (recorder.ts), packed as they ended (span-batching.ts), is moved to the export
// worker (export-worker.ts), which encodes and sends it. The request path records spans; the
// encoding runs off its event loop.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { diag, DiagLogLevel } from '@opentelemetry/api'
import type { ExportWorkerData, FromWorker, ToWorker } from './export-worker.ts'
import type { ExportOutcome, PackedExporter } from './span-batching.ts'
import type { PackedBatch } from './span-packing.ts'
import type { SpanSource } from './span-record.ts'

/** The worker module beside this one: export-worker.ts from source, export-worker.js from the build. */
const WORKER = new URL(`./export-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

export class ExportWorker implements PackedExporter {
  #worker: Worker
  #next = 0
  #pending = new Map<number, (outcome: ExportOutcome) => void>()
  #stopped: Promise<void> | undefined
  /** Why the worker takes no more batches, once it cannot: it failed, it ended, or a batch could not reach it. */
  #gone: string | undefined

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
      settle(m.ok ? { ok: true } : { ok: false, error: m.error })
    })
    this.#worker.on('error', err => {
      diag.error(`the trace export worker stopped: ${err.message}`)
      this.#fail(err.message)
    })
    this.#worker.on('exit', () => this.#fail('the trace export worker has ended'))
    // Never what keeps a process alive (after its listeners, which would hold it again): stopping the SDK flushes first.
    this.#worker.unref()
  }

  /** From now on every batch fails at once with `reason` (a dead worker would leave each waiting for its timeout). */
  #fail(reason: string): void {
    this.#gone ??= reason
    for (const settle of this.#pending.values()) settle({ ok: false, error: this.#gone })
    this.#pending.clear()
  }

  #ask(message: (id: number) => ToWorker, transfer: ArrayBuffer[] = []): Promise<ExportOutcome> {
    if (this.#gone !== undefined) return Promise.resolve({ ok: false, error: this.#gone })
    const id = this.#next++
    return new Promise(resolve => {
      this.#pending.set(id, resolve)
      try {
        this.#worker.postMessage(message(id), transfer)
      } catch (err) {
        // The worker never saw this batch's new strings, so it could not read any later batch: stop.
        const reason = `a span batch could not be sent to the trace export worker: ${(err as Error).message}`
        diag.error(`${reason}; no more spans are exported`)
        this.#fail(reason)
        void this.#worker.terminate()
      }
    })
  }

  /** Moves the batch to the worker (its buffer is transferred, not copied); settles once the worker has exported it. */
  send(batch: PackedBatch): Promise<ExportOutcome> {
    if (this.#stopped) return Promise.resolve({ ok: false, error: 'the trace exporter is stopped' })
    return this.#ask(id => ({ id, batch }), [batch.bytes])
  }

  /** Lets the worker's exporter finish what it sends; the worker then ends by itself. */
  shutdown(): Promise<void> {
    return this.#stopped ??= this.#ask(id => ({ id, shutdown: true })).then(() => undefined)
  }
}
