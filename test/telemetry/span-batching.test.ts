// The processor that packs the recorder's spans as they end and sends them in batches
// (src/telemetry/span-batching.ts): the BatchSpanProcessor's settings and behaviour (batch size,
// schedule delay, a bounded queue that drops past it, export timeout, flush and shutdown), with
// what each batch holds read back as the export worker reads it.
import { diag, DiagLogLevel, TraceFlags, type DiagLogger } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import t, { type Test } from 'tap'
import { PackingSpanProcessor, type BatchSettings, type ExportOutcome, type PackedExporter } from '../../src/telemetry/span-batching.ts'
import { SpanUnpacker, type PackedBatch } from '../../src/telemetry/span-packing.ts'
import { recorder } from '../helpers/recorded-spans.ts'

/** An exporter whose every send waits until the test answers it; what it was sent, read back. */
class Answerable implements PackedExporter {
  readonly names: string[][] = []
  readonly #unpacker = new SpanUnpacker()
  readonly #answers: Array<(outcome: ExportOutcome) => void> = []
  #sent: Array<() => void> = []
  stopped = false

  send(batch: PackedBatch): Promise<ExportOutcome> {
    this.names.push(this.#unpacker.unpack(batch).spans.map(s => s[0]))
    for (const wake of this.#sent.splice(0)) wake()
    return new Promise(resolve => this.#answers.push(resolve))
  }

  /** Resolves once `n` batches have been sent in all. */
  async sent(n: number): Promise<void> {
    while (this.names.length < n) await new Promise<void>(resolve => this.#sent.push(resolve))
  }

  answer(outcome: ExportOutcome = { ok: true }): void {
    this.#answers.shift()!(outcome)
  }

  async shutdown(): Promise<void> {
    this.stopped = true
  }
}

function diagnostics(t: Test): Record<'error' | 'warn' | 'debug', string[]> {
  const got = { error: [] as string[], warn: [] as string[], debug: [] as string[] }
  const ignore = () => {}
  const logger: DiagLogger = { error: m => { got.error.push(m) }, warn: m => { got.warn.push(m) }, debug: m => { got.debug.push(m) }, info: ignore, verbose: ignore }
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true })
  t.teardown(() => diag.disable())
  got.debug.length = 0 // the API's own line about the logger just set
  return got
}

/** A processor over an Answerable, and a way to end spans named `s0`, `s1`... into it. */
function setUp(settings: BatchSettings) {
  const exporter = new Answerable()
  const processor = new PackingSpanProcessor(exporter, settings)
  const { tracer } = recorder()
  let next = 0
  const end = (n: number) => {
    for (let i = 0; i < n; i++) {
      const span = tracer.startSpan(`s${next++}`)
      processor.onStart() // as the SDK's tracer would tell it (nothing to do then)
      span.end()
      processor.onEnd(span as unknown as ReadableSpan)
    }
  }
  return { exporter, processor, end }
}

const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `s${from + i}`)

t.test('a full batch is sent at once, its spans in the order they ended; one export at a time', async t => {
  const { exporter, processor, end } = setUp({ maxExportBatchSize: 3, scheduledDelayMillis: 600_000 })
  end(7)
  await exporter.sent(1)
  t.same(exporter.names, [names(0, 3)], 'the first full batch; the second waits for its answer')
  exporter.answer()
  await exporter.sent(2)
  t.same(exporter.names[1], names(3, 6), 'then the second; the seventh span waits for more, or for the delay')
  exporter.answer()
  const flushed = processor.forceFlush()
  await exporter.sent(3)
  t.same(exporter.names[2], ['s6'], 'a flush sends the open batch')
  exporter.answer()
  await flushed
})

t.test('a batch that does not fill is sent once the schedule delay has passed since its first span', async t => {
  const { exporter, end } = setUp({ maxExportBatchSize: 100, scheduledDelayMillis: 1 })
  // The processor's timers never keep a process alive (a proxy's server does): this stands in for it.
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
  end(2)
  await exporter.sent(1)
  t.same(exporter.names, [['s0', 's1']])
  exporter.answer()
})

t.test("past the queue size spans are dropped, not queued, and said so as the SDK's processor says it", async t => {
  const said = diagnostics(t)
  const { exporter, processor, end } = setUp({ maxExportBatchSize: 2, maxQueueSize: 4, scheduledDelayMillis: 600_000 })
  end(7) // one batch being exported and one waiting fill the queue: three spans dropped
  await exporter.sent(1)
  t.same(said.debug, ['maxQueueSize reached, dropping spans'], 'once, at the first drop')
  exporter.answer()
  await exporter.sent(2)
  t.same(exporter.names, [names(0, 2), names(2, 4)])
  end(1)
  t.same(said.warn, ['Dropped 3 spans because maxQueueSize reached'], 'told once room is back')
  exporter.answer()
  const flushed = processor.forceFlush()
  await exporter.sent(3)
  t.same(exporter.names[2], ['s7'])
  exporter.answer()
  await flushed
})

t.test('a failed, refused or unanswered export is an error, and its spans leave the queue', async t => {
  const said = diagnostics(t)
  const { exporter, processor, end } = setUp({ maxExportBatchSize: 1, maxQueueSize: 1, exportTimeoutMillis: 1, scheduledDelayMillis: 600_000 })
  end(1)
  await exporter.sent(1)
  exporter.answer({ ok: false, error: 'Bad Request' })
  await processor.forceFlush()
  t.same(said.error, ['span export failed: Bad Request'])
  end(1) // the queue has room again; this one is never answered
  const alive = setInterval(() => {}, 1000)
  await processor.forceFlush()
  clearInterval(alive)
  t.same(said.error, ['span export failed: Bad Request', 'span export failed: Timeout'])
  // An exporter that throws, or rejects, fails its batch the same way; the spans after it still go.
  const send = exporter.send.bind(exporter)
  exporter.send = () => { throw new Error('port closed') }
  end(1)
  await processor.forceFlush()
  exporter.send = () => Promise.reject(new Error('refused'))
  end(1)
  await processor.forceFlush()
  t.same(said.error.slice(2), ['span export failed: Error: port closed', 'span export failed: Error: refused'])
  exporter.send = send
  end(1)
  await exporter.sent(3)
  t.equal(exporter.names.length, 3, 'after them, the next span is sent')
  exporter.answer()
  exporter.answer()
})

t.test('spans of an unsampled trace are not kept', async t => {
  const { exporter, processor } = setUp({ maxExportBatchSize: 1 })
  const unsampled = { spanContext: () => ({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.NONE }) }
  processor.onEnd(unsampled as unknown as ReadableSpan)
  await processor.forceFlush()
  t.same(exporter.names, [])
})

t.test('a batch size over the queue size is the queue size, with the SDK\'s warning', async t => {
  const said = diagnostics(t)
  const { exporter, end } = setUp({ maxExportBatchSize: 10, maxQueueSize: 2 })
  end(2)
  await exporter.sent(1)
  t.same(exporter.names, [['s0', 's1']])
  t.same(said.warn, ['BatchSpanProcessor: maxExportBatchSize must be smaller or equal to maxQueueSize, setting maxExportBatchSize to match maxQueueSize'])
  exporter.answer()
})

t.test('shutdown sends what is open, then stops the exporter; later spans are not kept', async t => {
  const { exporter, processor, end } = setUp({})
  end(2)
  t.same(exporter.names, [], 'the defaults: 512 spans or 5 s a batch')
  const stopping = processor.shutdown()
  t.equal(processor.shutdown(), stopping, 'once')
  await exporter.sent(1)
  t.notOk(exporter.stopped, 'not before its last batch is answered')
  exporter.answer()
  await stopping
  t.ok(exporter.stopped)
  end(1)
  await processor.forceFlush()
  t.same(exporter.names, [['s0', 's1']])
})
