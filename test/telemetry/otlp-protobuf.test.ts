// dualread's OTLP/protobuf encoder (src/telemetry/otlp-protobuf.ts) against the SDK's serializer as
// the oracle: for any batch, the same bytes as ProtobufTraceSerializer writes for its spans.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import t from 'tap'
import { OtlpProtobufEncoder } from '../../src/telemetry/otlp-protobuf.ts'
import { fromBatch, type SpanBatch, type SpanRecord, type SpanSource } from '../../src/telemetry/span-record.ts'
import { recorder, someSpans, SOURCE, span } from '../helpers/recorded-spans.ts'

const sdkBytes = (batch: SpanBatch, source: SpanSource) => Buffer.from(ProtobufTraceSerializer.serializeRequest(fromBatch(batch, source))!)
const ours = (batch: SpanBatch, source: SpanSource, encoder = new OtlpProtobufEncoder(source)) => Buffer.from(encoder.encode(batch))

t.test("the recorder's spans encode as the SDK encodes them", async t => {
  const { tracer, batch } = recorder()
  someSpans(tracer)
  const b = batch()
  t.same(ours(b, SOURCE), sdkBytes(b, SOURCE))
})

t.test('every kind of value, long and non-ASCII strings, remote parents, links, events and schema URLs', async t => {
  const long = 'ü'.repeat(100) + 'x'.repeat(20_000)
  const source: SpanSource = {
    resource: { attributes: { 'service.name': 'dualread', 'process.pid': 7, weird: 'ñ' }, schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
    scope: { name: 'dualread', version: '1.2.3', schemaUrl: 'https://opentelemetry.io/schemas/1.29.0' },
  }
  const spans: SpanRecord[] = [
    span(),
    span({ 0: 'ünïcödé name', 1: SpanKind.CLIENT, 5: 'vendor=a,other=b', 6: 'b7ad6b7169203331', 7: true, 10: SpanStatusCode.ERROR, 11: 'old answered 503' }),
    span({ 6: 'b7ad6b7169203331', 7: false, 1: SpanKind.INTERNAL }),
    span({ 12: {
      s: 'x', empty: '', t: true, f: false, zero: 0, int: 42, neg: -1, big: 2 ** 40, negBig: -(2 ** 40), huge: 2 ** 63, double: 3.25, nan: Number.NaN,
      strings: ['a', 'ü'], numbers: [1, 2.5, -3], bools: [true], holes: [null, undefined, 'x'] as never, none: undefined as never, long,
      // More than twice the encoder's first buffer, in one write.
      longer: 'y'.repeat(300_000),
    } }),
    span({ 13: [[['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 1, true, 'vendor=a'], { why: 'caused by' }], [['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203332', 0, false, undefined], undefined]] }),
    span({ 14: [['retry', 1235.5, { attempt: 2 }], ['plain', 1236, undefined]] }),
    span({ 8: 0, 9: 0.000001 }),
    span({ 8: 999.9999999, 9: 86_400_000 * 3 }),
  ]
  for (const origin of [1_764_000_000_000, 1_764_000_000_999.5, 0]) {
    const batch = { origin, spans }
    t.same(ours(batch, source), sdkBytes(batch, source), `origin ${origin}`)
  }
})

t.test('a batch larger than the buffer, and more values than are kept encoded', async t => {
  const encoder = new OtlpProtobufEncoder(SOURCE)
  const spans = Array.from({ length: 6000 }, (_, i) => span({ 12: { 'dualread.rule': `rule-${i}`, n: i } }))
  const batch = { origin: 1_764_000_000_000, spans }
  const first = ours(batch, SOURCE, encoder)
  t.ok(first.length > 64 * 1024, 'beyond the first buffer')
  t.same(first, sdkBytes(batch, SOURCE))
  t.same(ours(batch, SOURCE, encoder), first, 'again, from what was kept')
  const small = { origin: 1, spans: [span()] }
  t.same(ours(small, SOURCE, encoder), sdkBytes(small, SOURCE), 'the next batch starts over')
})
