// Comparisons in real worker threads: the answers are the same as in this thread, the bodies move
// rather than copy, and a worker that dies or runs out of memory fails one comparison, not the proxy.
import t, { type Test } from 'tap'
import { gzipSync } from 'node:zlib'
import { ComparePool, type ComparePair } from '../../src/parity/compare-pool.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { ALERT_RULE, alertRule, json, resourceWith } from './fixtures.ts'


const RESOURCES = [ALERT_RULE]
const pair = (oldDoc: unknown, newDoc: unknown, over: Partial<ComparePair> = {}): ComparePair =>
  ({ resources: RESOURCES, resourceType: 'alert-rule', kind: 'item', old: json(oldDoc), new: json(newDoc), explain: true, ...over })

/** A list of `n` alert rules, gzipped: megabytes of JSON in a small body. */
function hugeList(n: number, threshold = 0.05): Buffer {
  return gzipSync(JSON.stringify({ items: Array.from({ length: n }, (_, i) => alertRule({ id: `r${i}`, threshold })) }))
}

/** Two different huge lists: nothing short of parsing both tells them apart. */
function hugePair(n: number): ComparePair {
  return { ...pair(null, null, { kind: 'collection' }), old: { status: 200, body: hugeList(n), contentEncoding: 'gzip' }, new: { status: 200, body: hugeList(n, 0.1), contentEncoding: 'gzip' } }
}

/** Bodies in buffers of their own, as the proxy's capture makes them (so they can be transferred). */
const owned = (doc: unknown) => ({ status: 200, body: Buffer.from(new TextEncoder().encode(JSON.stringify(doc)).buffer) })

/** A pool of one worker, closed when the test ends; what it logs is in `logs`. */
function pool(t: Test, o: Partial<ConstructorParameters<typeof ComparePool>[0]> = {}): ComparePool & { logs: string[] } {
  const { logs, log } = captureLog('warn')
  const p = new ComparePool({ workers: () => 1, log, ...o })
  t.teardown(() => p.close())
  return Object.assign(p, { logs })
}

t.test('a worker classifies and explains as this thread would, and the bodies move to it', async t => {
  const p = pool(t)
  const c = { ...pair(null, null), old: owned(alertRule()), new: owned(alertRule({ enabled: false })) }
  const { old, new: neu } = c
  const outcome = await p.compare(c)
  t.same(outcome.result, 'critical')
  t.same(outcome.pointers, [{ pointer: '/enabled', severity: 'critical' }])
  t.match(outcome.diff, [{ op: 'replace', path: '/enabled', old: true, new: false }])
  t.same([old.body.byteLength, neu.body.byteLength], [0, 0], 'transferred: this thread no longer holds the bytes')
})

t.test('a small uncompressed pair is compared in this thread; a larger or compressed one in a worker', async t => {
  const p = pool(t, { inlineBytes: () => 4096 })
  const small = { ...pair(null, null), old: owned(alertRule()), new: owned(alertRule({ enabled: false })) }
  t.match(await p.compare(small), { result: 'critical', diff: [{ path: '/enabled', old: true, new: false }] })
  t.ok(small.old.body.byteLength > 0, 'not handed over: its bytes are still here')
  t.same(p.threads, [], 'no worker was needed')
  const compressed = { ...pair(null, null), old: { status: 200, body: Buffer.from(new Uint8Array(gzipSync(JSON.stringify(alertRule()))).buffer), contentEncoding: 'gzip' }, new: owned(alertRule()) }
  t.equal((await p.compare(compressed)).result, 'match')
  t.same(compressed.old.body.byteLength, 0, 'a compressed body goes to a worker, whatever its size: its inflated size is unknown')
  const large = { ...pair(null, null), old: owned(alertRule({ description: 'x'.repeat(4096) })), new: owned(alertRule({ description: 'y'.repeat(4096) })) }
  t.equal((await p.compare(large)).result, 'cosmetic')
  t.same(large.old.body.byteLength, 0, 'past the bound, a worker compares it')
})

t.test('a body that shares its memory (a pooled Buffer) is copied once, so the pool stays intact', async t => {
  const p = pool(t)
  const small = Buffer.from(JSON.stringify(alertRule())) // small Buffers are slices of a shared pool
  t.ok(small.byteLength < small.buffer.byteLength, 'the fixture is a slice of a larger buffer')
  const outcome = await p.compare({ ...pair(alertRule(), alertRule()), old: { status: 200, body: small }, new: json(alertRule({ name: 'x' })) })
  t.equal(outcome.result, 'cosmetic')
  t.same(JSON.parse(small.toString()), alertRule(), 'the pooled buffer is still readable')
})

t.test('a worker stopped mid-comparison is an error outcome; the next comparisons are served by its replacement', async t => {
  const p = pool(t)
  t.equal((await p.compare(pair(alertRule(), alertRule({ name: 'x' })))).result, 'cosmetic', 'a worker is up')
  const [first] = p.threads
  const slow = p.compare(hugePair(60_000))
  await first!.terminate()
  t.match(await slow, { result: 'error', pointers: [], detail: /^the comparison failed in its worker thread: / })
  t.equal(p.threads.length, 1, 'piscina started another worker')
  t.not(p.threads[0], first)
  t.equal((await p.compare(pair(alertRule(), alertRule({ threshold: 9 })))).result, 'critical')
  t.equal((await p.compare(pair(alertRule(), alertRule()))).result, 'match')
})

t.test('a body that inflates past the decoded-size bound is an error of its side, before any parse', async t => {
  const p = pool(t, { maxDecodedBytes: 64 * 1024 })
  const outcome = await p.compare(hugePair(60_000))
  t.match(outcome, { result: 'error', failedSide: 'old', detail: /^old body could not be decompressed \(gzip\)/ })
  t.equal((await p.compare(pair(alertRule(), alertRule({ enabled: false })))).result, 'critical', 'the next comparison works')
})

t.test('a worker failing between comparisons is logged, never thrown (an unheard pool error would end the process)', async t => {
  const p = pool(t)
  await p.compare(pair(alertRule(), alertRule()))
  // What piscina hears from a worker thread whose code threw outside any task.
  p.threads[0]!.emit('error', new Error('worker exploded'))
  t.match(p.logs.join(''), /"msg":"a comparison worker failed; another is started in its place".*worker exploded|worker exploded.*"msg":"a comparison worker failed/)
  t.equal((await p.compare(pair(alertRule(), alertRule({ enabled: false })))).result, 'critical', 'and the next comparison is served')
})

t.test('a comparison past its deadline is stopped with its worker, and is an error', async t => {
  const p = pool(t, { timeoutMs: 50 })
  const [worker] = (await p.compare(pair(alertRule(), alertRule())), p.threads)
  t.match(await p.compare(hugePair(60_000)), { result: 'error', detail: 'the comparison failed in its worker thread: it took over 50 ms' })
  t.not(p.threads[0], worker, 'its worker was stopped (and another started)')
})

t.test('workers keep the rules of their generation; other rules get new workers, the same rules keep them', async t => {
  const p = pool(t)
  await p.compare(pair(alertRule(), alertRule()))
  const [worker] = p.threads
  // A reload with the same rules (a new array, equal content) keeps the workers.
  t.equal((await p.compare(pair(alertRule(), alertRule({ updatedAt: 'later' }), { resources: structuredClone(RESOURCES) }))).result, 'match')
  t.equal(p.threads[0], worker)
  // Rules that ignore /enabled: new workers compile them, once.
  const lenient = [resourceWith({ compare: { ignore: ['/enabled', '/updatedAt'] } })]
  t.equal((await p.compare(pair(alertRule(), alertRule({ enabled: false }), { resources: lenient }))).result, 'match')
  t.not(p.threads[0], worker)
})

t.test('once closed, a comparison is an error saying so', async t => {
  const p = new ComparePool({ workers: () => 1, log: captureLog().log })
  await p.compare(pair(alertRule(), alertRule()))
  await p.close()
  t.same(p.threads, [])
  t.same(await p.compare(pair(alertRule(), alertRule())), { result: 'error', pointers: [], versionsDiffer: false, detail: 'the proxy is stopping' })
})
