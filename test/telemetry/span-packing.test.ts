// The packed form span batches cross to the export worker in (src/telemetry/span-packing.ts): any
// batch reads back as the records it was made from, through a real MessagePort with its buffer
// transferred, batch after batch, with the string table full or not.
import { once } from 'node:events'
import { MessageChannel } from 'node:worker_threads'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import t from 'tap'
import { SpanPacker, SpanUnpacker, type PackedBatch } from '../../src/telemetry/span-packing.ts'
import type { SpanBatch, SpanRecord } from '../../src/telemetry/span-record.ts'
import { recorder, someSpans, span } from '../helpers/recorded-spans.ts'

/** A batch as the processor packs it: span by span, then taken. */
function pack(packer: SpanPacker, batch: SpanBatch): PackedBatch {
  for (const record of batch.spans) packer.add(record)
  return packer.take(batch.origin)
}

/** Packs on one end of a MessageChannel, transferring the buffer, and unpacks what arrives at the other. */
async function throughPort(batches: SpanBatch[], packer = new SpanPacker(), unpacker = new SpanUnpacker()): Promise<{ read: SpanBatch[], packed: PackedBatch[] }> {
  const { port1, port2 } = new MessageChannel()
  const read: SpanBatch[] = []
  const packed: PackedBatch[] = []
  for (const batch of batches) {
    const p = pack(packer, batch)
    const arrived = once(port2, 'message') as Promise<[PackedBatch]>
    port1.postMessage(p, [p.bytes])
    t.equal(p.bytes.byteLength, 0, 'the buffer was moved, not copied')
    const [message] = await arrived
    packed.push(message)
    read.push(unpacker.unpack(message))
  }
  port1.close()
  return { read, packed }
}

const bytesOf = (p: PackedBatch) => Buffer.from(p.bytes, 0, p.length)

t.test("the recorder's spans read back as they were recorded", async t => {
  const { tracer, batch } = recorder()
  someSpans(tracer)
  const b = batch()
  const { read, packed } = await throughPort([b])
  t.same(read, [b])
  t.equal(packed[0]!.count, b.spans.length)
})

t.test('every kind of value, long and non-ASCII strings, remote parents, trace state, status messages, links and events', async t => {
  const long = 'ü'.repeat(100) + 'x'.repeat(300_000)
  const spans: SpanRecord[] = [
    span(),
    span({ 0: 'ünïcödé name', 1: SpanKind.CLIENT, 4: 0, 5: 'vendor=a,other=b', 6: 'b7ad6b7169203331', 7: true, 10: SpanStatusCode.ERROR, 11: 'old answered 503 — ü' }),
    span({ 6: 'b7ad6b7169203331', 7: false, 1: SpanKind.INTERNAL, 10: SpanStatusCode.OK, 11: '' }),
    span({ 12: {
      s: 'x', empty: '', t: true, f: false, zero: 0, negZero: -0, int: 42, neg: -1, big: 2 ** 40, huge: 2 ** 63, double: 3.25, nan: Number.NaN, inf: -Infinity,
      strings: ['a', 'ü'], numbers: [1, 2.5], empties: [], holes: [null, undefined, 'x'], none: null, missing: undefined, [long]: long,
    } }),
    span({ 12: {}, 13: [[['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 1, true, 'k=v'], { why: 'caused by' }]], 14: [['retry', 1235, { attempt: 2 }], ['done', 1236, undefined]] }),
    span({ 13: [[['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 0, false, undefined], undefined]] }),
    span({ 14: [['only an event', 1237, {}]] }),
  ]
  const batch: SpanBatch = { origin: 1_700_000_000_123.456, spans }
  const { read } = await throughPort([batch])
  t.same(read, [batch])
  t.ok(Object.is(read[0]!.spans[3]![12]['negZero'], -0), 'numbers keep their sign and every bit')
  t.ok(Number.isNaN(read[0]!.spans[3]![12]['nan']))
  t.equal(read[0]!.spans[3]![12][long], long, 'a string far larger than the first buffer')
  t.ok(bytesOf((await throughPort([batch])).packed[0]!).includes('x'.repeat(1000)), 'written in full, not kept in the table')
})

t.test('a string crosses once; later batches name it by its entry', async t => {
  const batches = [0, 1, 2].map(i => ({ origin: 1_700_000_000_000 + i, spans: [span({ 12: { 'dualread.rule': `rule-${i % 2}` } }), span()] }))
  const { read, packed } = await throughPort(batches)
  t.same(read, batches)
  t.same(packed[0]!.strings, ['GET /api/v1/tenants/:tenant/alert-rules/:id', 'dualread.rule', 'rule-0', 'default', 'http.response.status_code', 'dualread.fallback'])
  t.same(packed[1]!.strings, ['rule-1'], 'only what is new')
  t.same(packed[2]!.strings, [])
  t.notOk(bytesOf(packed[0]!).includes('alert-rules'), 'in the buffer a string is a reference, never its text')
  t.same(new SpanPacker().take(0).count, 0, 'an empty batch packs too')
})

t.test('once the table is full, new strings are written in full, and the batch still reads back', async t => {
  // More distinct values than the table holds (a status message or an error code per span, say).
  const spans = Array.from({ length: 5000 }, (_, i) => span({ 0: `span ${i}`, 12: { 'error.type': `E${i}` } }))
  // Sized for a few spans: the buffer grows as they are added.
  const packer = new SpanPacker(2)
  const unpacker = new SpanUnpacker()
  const { read, packed } = await throughPort([{ origin: 1, spans }, { origin: 2, spans: spans.slice(0, 10) }], packer, unpacker)
  t.same(read.map(b => b.spans), [spans, spans.slice(0, 10)])
  t.equal(packed[0]!.strings.length, 4096, 'the table stops growing')
  t.same(packed[1]!.strings, [])
  t.ok(bytesOf(packed[0]!).includes('E4999'), 'in full in the buffer')
})

t.test('a span keeps at most 65,535 attributes (the count is two bytes); the batch still reads back', async t => {
  const many = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))
  const { read } = await throughPort([{ origin: 1, spans: [span({ 12: many }), span()] }])
  t.equal(Object.keys(read[0]!.spans[0]![12]).length, 65_535)
  t.equal(read[0]!.spans[0]![12]['k65534'], 65_534)
  t.same(read[0]!.spans[1], span(), 'the next span is whole')
})
