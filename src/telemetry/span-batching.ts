// The span processor of the recorder's spans (recorder.ts) while they go to the export worker:
// the SDK's BatchSpanProcessor's settings and behaviour (OTEL_BSP_*: batch size, schedule delay,
// queue size with drops past it, export timeout), but a span is packed (span-packing.ts) the moment
// it ends, not kept as an object until its batch is sent. Kept, the last few hundred spans and
// everything they point to were read again seconds later, long out of the CPU's caches, and
// survived young-generation collections meanwhile: with the SDK's processor in front of the same
// packing, the export path cost the event loop more than making the spans did (README: What the
// sidecar costs).
import { diag, TraceFlags } from '@opentelemetry/api'
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace'
import { clockOrigin, recordOf } from './recorder.ts'
import { SpanPacker, type PackedBatch } from './span-packing.ts'

/** How one batch's export went. */
export type ExportOutcome = { ok: true } | { ok: false, error: string }

/** Where packed batches go (export-worker-client.ts: the export worker). */
export interface PackedExporter {
  send(batch: PackedBatch): Promise<ExportOutcome>
  shutdown(): Promise<void>
}

/** The BatchSpanProcessor's options, with its defaults. */
export interface BatchSettings {
  maxExportBatchSize?: number
  maxQueueSize?: number
  scheduledDelayMillis?: number
  exportTimeoutMillis?: number
}

export class PackingSpanProcessor implements SpanProcessor {
  readonly #exporter: PackedExporter
  readonly #batchSize: number
  readonly #queueSize: number
  readonly #delayMs: number
  readonly #timeoutMs: number
  readonly #packer: SpanPacker
  /** Spans packed and not yet exported: those of the open batch, of batches waiting, and of the one being exported. */
  #queued = 0
  #dropped = 0
  #timer: NodeJS.Timeout | undefined
  /** The batches closed so far, exported one after the other (as the SDK's processor: one export at a time). */
  #exports: Promise<void> = Promise.resolve()
  #stopped: Promise<void> | undefined

  constructor(exporter: PackedExporter, s: BatchSettings = {}) {
    this.#exporter = exporter
    this.#queueSize = s.maxQueueSize ?? 2048
    this.#batchSize = s.maxExportBatchSize ?? 512
    this.#delayMs = s.scheduledDelayMillis ?? 5000
    this.#timeoutMs = s.exportTimeoutMillis ?? 30_000
    if (this.#batchSize > this.#queueSize) {
      diag.warn('BatchSpanProcessor: maxExportBatchSize must be smaller or equal to maxQueueSize, setting maxExportBatchSize to match maxQueueSize')
      this.#batchSize = this.#queueSize
    }
    this.#packer = new SpanPacker(this.#batchSize)
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return
    if (this.#queued >= this.#queueSize) {
      if (this.#dropped++ === 0) diag.debug('maxQueueSize reached, dropping spans')
      return
    }
    if (this.#dropped > 0) {
      diag.warn(`Dropped ${this.#dropped} spans because maxQueueSize reached`)
      this.#dropped = 0
    }
    this.#packer.add(recordOf(span))
    this.#queued++
    if (this.#packer.count >= this.#batchSize) this.#close()
    else this.#timer ??= setTimeout(() => this.#close(), this.#delayMs).unref()
  }

  /** Closes the open batch, if it has spans: it is exported once those before it are. */
  #close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const count = this.#packer.count
    if (count === 0) return
    // Taken now, in order: the export worker reads each batch's new strings before the next batch's.
    const batch = this.#packer.take(clockOrigin())
    this.#exports = this.#exports.then(() => this.#export(batch, count))
  }

  /** One batch's export, which settles (never rejects) once it is exported, failed or timed out; failures go to diag. */
  async #export(batch: PackedBatch, count: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<ExportOutcome>(resolve => { timer = setTimeout(() => resolve({ ok: false, error: 'Timeout' }), this.#timeoutMs).unref() })
    // (An exporter that throws, or rejects, fails its batch like any other failure.)
    const sent = Promise.resolve().then(() => this.#exporter.send(batch)).catch((err: unknown): ExportOutcome => ({ ok: false, error: String(err) }))
    const outcome = await Promise.race([sent, timedOut])
    clearTimeout(timer)
    this.#queued -= count
    if (!outcome.ok) diag.error(`span export failed: ${outcome.error}`)
  }

  /** Closes the open batch and waits for every batch closed so far. */
  forceFlush(): Promise<void> {
    this.#close()
    return this.#exports
  }

  /** Flushes, then stops the exporter; spans ending later are not kept. */
  shutdown(): Promise<void> {
    return this.#stopped ??= this.forceFlush().then(() => this.#exporter.shutdown())
  }
}
