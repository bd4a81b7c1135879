import t from 'tap'
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib'
import { decodeBody } from '../../src/parity/decode.ts'

const DOC = { id: 'r1', enabled: true, labels: ['a', 'b'] }
const TEXT = JSON.stringify(DOC)

t.test('compressed bodies are decompressed before parsing', async t => {
  const encodings: Array<[string, Buffer]> = [
    ['gzip', gzipSync(TEXT)],
    ['x-gzip', gzipSync(TEXT)],
    ['GZIP', gzipSync(TEXT)],
    ['br', brotliCompressSync(TEXT)],
    ['deflate', deflateSync(TEXT)],
    ['zstd', zstdCompressSync(TEXT)],
    ['identity', Buffer.from(TEXT)],
    ['', Buffer.from(TEXT)],
  ]
  for (const [contentEncoding, body] of encodings) {
    t.same(decodeBody({ status: 200, body, contentEncoding }), { ok: true, doc: DOC }, contentEncoding)
  }
  t.same(decodeBody({ status: 200, body: Buffer.from(TEXT) }), { ok: true, doc: DOC }, 'no content-encoding')
})

t.test('deflate without its zlib wrapper, as some servers send it, is accepted', async t => {
  t.same(decodeBody({ status: 200, body: deflateRawSync(TEXT), contentEncoding: 'deflate' }), { ok: true, doc: DOC })
})

t.test('several encodings are undone in reverse order of application', async t => {
  const body = brotliCompressSync(gzipSync(TEXT))
  t.same(decodeBody({ status: 200, body, contentEncoding: 'gzip, br' }), { ok: true, doc: DOC })
})

t.test('an unknown encoding is reported, not guessed', async t => {
  t.same(decodeBody({ status: 200, body: Buffer.from(TEXT), contentEncoding: 'compress' }), {
    ok: false, reason: 'body has an unsupported content-encoding "compress" (expected gzip, br, deflate or zstd)',
  })
})

t.test('a corrupt compressed body is reported with the encoding', async t => {
  const decoded = decodeBody({ status: 200, body: Buffer.from('not gzip at all'), contentEncoding: 'gzip' })
  t.equal(decoded.ok, false)
  t.match(decoded, { reason: /^body could not be decompressed \(gzip\): / })
  t.match(decodeBody({ status: 200, body: Buffer.from('not deflate'), contentEncoding: 'deflate' }), { ok: false, reason: /^body could not be decompressed \(deflate\): / })
})

t.test('a body that decompresses past the bound is an error, not a memory spike', async t => {
  const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20))
  t.ok(bomb.length < 2048, 'a small compressed body')
  t.match(decodeBody({ status: 200, body: bomb, contentEncoding: 'gzip' }, 64 * 1024), { ok: false, reason: /^body could not be decompressed \(gzip\): / })
  t.same(decodeBody({ status: 200, body: gzipSync(`  ${TEXT}  `), contentEncoding: 'gzip' }, 64 * 1024), { ok: true, doc: DOC }, 'under the bound')
})

t.test('a body that is not JSON says why, without quoting the body', async t => {
  const html = decodeBody({ status: 200, body: Buffer.from('<html>token=hunter2</html>') })
  t.same(html, { ok: false, reason: 'body is not JSON (26 bytes): Unexpected token \'<\'' })
  t.same(decodeBody({ status: 200, body: Buffer.from('hunter2') }), { ok: false, reason: 'body is not JSON (7 bytes): Unexpected token \'h\'' }, 'a short body')
  t.same(decodeBody({ status: 200, body: Buffer.alloc(0) }), { ok: false, reason: 'body is not JSON (0 bytes): Unexpected end of JSON input' })
  t.match(decodeBody({ status: 200, body: Buffer.from('{"a":1}}') }), { ok: false, reason: /^body is not JSON \(8 bytes\): Unexpected non-whitespace character after JSON at position 7/ })
})
