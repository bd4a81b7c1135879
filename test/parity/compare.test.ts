import t from 'tap'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { canonicalHash, compareAnswers, compareDocuments, compilePlan, diffPointers, normalizeItem, type BodyAnswer } from '../../src/parity/compare.ts'
import { ALERT_RULE, alertRule, json, resourceWith } from './fixtures.ts'

const plan = compilePlan(ALERT_RULE)

function page(items: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { items, ...extra }
}

t.test('byte-identical answers match without being parsed', async t => {
  const body = Buffer.from('this is not JSON')
  t.same(compareAnswers(plan, 'item', { status: 200, body }, { status: 200, body: Buffer.from(body) }), { result: 'match', pointers: [], versionsDiffer: false })
  t.same(compareAnswers(plan, 'collection', json(alertRule()), json(alertRule())).result, 'match')
})

t.test('a critical field dropped by the new store is critical, at its pointer', async t => {
  const { owner: _, ...withoutOwner } = alertRule()
  const c = compareAnswers(plan, 'item', json(alertRule()), json(withoutOwner))
  t.equal(c.result, 'critical')
  t.same(c.pointers, [{ pointer: '/owner', severity: 'critical' }])
  t.equal(c.versionsDiffer, false)
  t.same(c.old, normalizeItem(plan, alertRule()), 'the normalized documents come back for samples')
  t.same(c.new, normalizeItem(plan, withoutOwner))
})

t.test('a difference outside critical pointers is cosmetic', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json(alertRule({ name: 'High error rate!', routing: { receiver: 'pager', groupBy: ['alertname'] } })))
  t.equal(c.result, 'cosmetic')
  t.same(c.pointers, [{ pointer: '/name', severity: 'cosmetic' }, { pointer: '/routing/groupBy/*', severity: 'cosmetic' }])
})

t.test('critical and cosmetic differences together are critical, each pointer with its own severity', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json(alertRule({ enabled: false, name: 'other', threshold: 0.1 })))
  t.equal(c.result, 'critical')
  t.same(c.pointers, [
    { pointer: '/enabled', severity: 'critical' },
    { pointer: '/name', severity: 'cosmetic' },
    { pointer: '/threshold', severity: 'critical' },
  ])
})

t.test('a replaced parent of a critical pointer is critical', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json(alertRule({ routing: null })))
  t.same(c.pointers, [{ pointer: '/routing', severity: 'critical' }])
  t.equal(c.result, 'critical')
})

t.test('a document of another type altogether is critical at the root', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json([alertRule()]))
  t.same(c.pointers, [{ pointer: '', severity: 'critical' }])
  const noCritical = compilePlan(resourceWith())
  t.equal(compareAnswers(noCritical, 'item', json({ a: 1 }), json(5)).result, 'cosmetic', 'unless the resource has no critical pointer')
})

t.test('a receivers list in another order matches when receivers are unordered by name', async t => {
  const receivers = [{ name: 'pager', type: 'pagerduty' }, { name: 'chat', type: 'slack' }, { name: 'email', type: 'smtp' }]
  const old = alertRule({ receivers, labels: ['a', 'b', 'c'] })
  const reordered = alertRule({ receivers: [receivers[2], receivers[0], receivers[1]], labels: ['c', 'a', 'b'] })
  t.equal(compareAnswers(plan, 'item', json(old), json(reordered)).result, 'match')
  const ordered = compilePlan(resourceWith({ compare: { critical: ['/receivers/*/name'] } }))
  const c = compareAnswers(ordered, 'item', json(old), json(reordered))
  t.equal(c.result, 'critical', 'without unordered, the order is a difference')
  t.same(c.pointers.map(p => p.pointer), ['/labels/*', '/receivers/*/name', '/receivers/*/type'], 'array indexes are templated')
})

t.test('ignored and normalized differences match: "5m" equals "300s", updatedAt is ignored', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json(alertRule({ for: '300s', updatedAt: '2025-06-01T00:00:00Z' })))
  t.equal(c.result, 'match')
  t.same(c.pointers, [])
})

t.test('versions that differ are reported, so a recheck can tell lag from drift', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule({ version: 3 })), json(alertRule({ version: 2, enabled: false })))
  t.equal(c.result, 'critical')
  t.equal(c.versionsDiffer, true)
  t.equal(compareAnswers(plan, 'item', json(alertRule()), json(alertRule({ enabled: false }))).versionsDiffer, false, 'same version')
  const unversioned = compilePlan(resourceWith({ compare: { critical: ['/enabled'] } }))
  t.equal(compareAnswers(unversioned, 'item', json(alertRule({ version: 3 })), json(alertRule({ version: 2 }))).versionsDiffer, false, 'no version pointer')
})

t.test('a collection compares items matched by id and reports their pointers under /items/*', async t => {
  const old = page([alertRule({ id: 'r1' }), alertRule({ id: 'r2' })], { nextCursor: 'abc', total: 2 })
  const changed = page([alertRule({ id: 'r2', name: 'renamed' }), alertRule({ id: 'r1', enabled: false })], { nextCursor: 'xyz', total: 3 })
  const c = compareAnswers(plan, 'collection', json(old), json(changed))
  t.equal(c.result, 'critical')
  t.same(c.pointers, [{ pointer: '/items/*/enabled', severity: 'critical' }, { pointer: '/items/*/name', severity: 'cosmetic' }])
  t.equal(c.versionsDiffer, false)
  t.same(Object.keys((c.old as { items: object }).items), ['r1', 'r2'], 'the compared documents hold items by id')
  const reorderedOnly = page([alertRule({ id: 'r2' }), alertRule({ id: 'r1' })], { nextCursor: 'xyz' })
  t.equal(compareAnswers(plan, 'collection', json(old), json(reorderedOnly)).result, 'match', 'page order and cursors are not differences')
})

t.test('a collection with a missing or an extra item is critical at /items/*', async t => {
  const full = page([alertRule({ id: 'r1' }), alertRule({ id: 'r2' })])
  const missing = compareAnswers(plan, 'collection', json(full), json(page([alertRule({ id: 'r1' })])))
  t.equal(missing.result, 'critical')
  t.same(missing.pointers, [{ pointer: '/items/*', severity: 'critical' }])
  t.equal(missing.versionsDiffer, true, 'a missing item may be lag')
  const extra = compareAnswers(plan, 'collection', json(page([alertRule({ id: 'r1' })])), json(full))
  t.same(extra.pointers, [{ pointer: '/items/*', severity: 'critical' }])
  const unversioned = compilePlan(resourceWith())
  t.equal(compareAnswers(unversioned, 'collection', json(full), json(page([]))).versionsDiffer, false, 'no version pointer')
})

t.test('a collection reports versions that differ on any matched item', async t => {
  const old = page([alertRule({ id: 'r1', version: 1 }), alertRule({ id: 'r2', version: 1 })])
  const c = compareAnswers(plan, 'collection', json(old), json(page([alertRule({ id: 'r1', version: 1 }), alertRule({ id: 'r2', version: 2 })])))
  t.equal(c.versionsDiffer, true)
  t.equal(c.result, 'cosmetic', 'version is not a critical pointer here')
})

t.test('a collection with its list and ids elsewhere uses the resource\'s pointers', async t => {
  const nested = compilePlan(resourceWith({ list: { items: '/data/rules' }, id: '/meta/uid', compare: { critical: ['/enabled'] } }))
  const item = (uid: unknown, enabled = true): unknown => ({ meta: { uid }, enabled })
  const c = compareAnswers(nested, 'collection', json({ data: { rules: [item('a'), item(7), item({ k: 1 })] } }), json({ data: { rules: [item({ k: 1 }), item(7, false), item('a')] } }))
  t.same(c.pointers, [{ pointer: '/data/rules/*/enabled', severity: 'critical' }])
  t.same(Object.keys((c.new as { data: { rules: object } }).data.rules).sort(), ['7', 'a', '{"k":1}'], 'string ids as they are, others as canonical JSON')
  t.equal(compareAnswers(nested, 'collection', json({ data: { rules: [item('7')] } }), json({ data: { rules: [item(7)] } })).result, 'critical', 'the id "7" is not the id 7')
})

t.test('repeated ids in a page are matched in order', async t => {
  const twice = page([alertRule({ id: 'r1' }), alertRule({ id: 'r1', name: 'second' })])
  const sameWithCursor = page([alertRule({ id: 'r1' }), alertRule({ id: 'r1', name: 'second' })], { nextCursor: 'x' })
  t.equal(compareAnswers(plan, 'collection', json(twice), json(sameWithCursor)).result, 'match')
  const c = compareAnswers(plan, 'collection', json(twice), json(page([alertRule({ id: 'r1' })])))
  t.same(c.pointers, [{ pointer: '/items/*', severity: 'critical' }])
  t.same(Object.keys((c.old as { items: object }).items), ['r1', 'r1#2'])
})

t.test('a collection without an item list, or with an item without id, is an error that says where', async t => {
  const good = json(page([alertRule()]))
  t.same(compareAnswers(plan, 'collection', json({ rules: [] }), good), { result: 'error', pointers: [], versionsDiffer: false, detail: 'old body has no item list at /items', failedSide: 'old' })
  t.same(compareAnswers(plan, 'collection', good, json(page([alertRule(), { name: 'no id' }]))), {
    result: 'error', pointers: [], versionsDiffer: false, detail: 'new item 1 has no id at /id (check the resource\'s id pointer)', failedSide: 'new',
  })
})

t.test('different statuses are critical and say which side answered what', async t => {
  const c = compareAnswers(plan, 'item', json(alertRule()), json({ error: 'not found' }, 404))
  t.same(c, { result: 'critical', pointers: [], versionsDiffer: true, detail: 'old answered 200, new answered 404' })
  t.equal(compareAnswers(plan, 'item', json({ error: 'not found' }, 404), json(alertRule())).versionsDiffer, true, 'a 404 against a 2xx may be lag')
  const unversioned = compilePlan(resourceWith())
  t.equal(compareAnswers(unversioned, 'item', json(alertRule()), json('', 404)).versionsDiffer, false)
  t.same(compareAnswers(plan, 'item', json('', 500), json('', 503)), { result: 'critical', pointers: [], versionsDiffer: false, detail: 'old answered 500, new answered 503' })
  t.equal(compareAnswers(plan, 'item', json('', 500), json(alertRule())).versionsDiffer, false, 'a 5xx says nothing about versions')
  t.equal(compareAnswers(plan, 'collection', json('', 404), json(page([]))).result, 'critical')
})

t.test('the same error status on both sides is a match, whatever the bodies say', async t => {
  t.equal(compareAnswers(plan, 'item', json({ error: 'not found', requestId: 1 }, 404), json('<html>Not Found</html>', 404)).result, 'match')
  t.equal(compareAnswers(plan, 'collection', json('x', 503), json('y', 503)).result, 'match')
})

t.test('two different 2xx statuses compare their bodies', async t => {
  t.equal(compareAnswers(plan, 'item', json(alertRule(), 200), json(alertRule(), 203)).result, 'match')
  t.equal(compareAnswers(plan, 'item', json(alertRule(), 200), json(alertRule({ enabled: false }), 203)).result, 'critical')
})

t.test('an unparseable body is an error naming the side', async t => {
  t.same(compareAnswers(plan, 'item', json('<html>oops</html>'), json(alertRule())), {
    result: 'error', pointers: [], versionsDiffer: false, detail: 'old body is not JSON (17 bytes): Unexpected token \'<\'', failedSide: 'old',
  })
  t.match(compareAnswers(plan, 'item', json(alertRule()), json('{"id": "r1",')), { result: 'error', detail: /^new body is not JSON \(12 bytes\): / })
})

t.test('compressed bodies are compared after decompression', async t => {
  const gzip: BodyAnswer = { status: 200, body: gzipSync(JSON.stringify(alertRule())), contentEncoding: 'gzip' }
  const br: BodyAnswer = { status: 200, body: brotliCompressSync(JSON.stringify(alertRule({ for: '5m0s' }))), contentEncoding: 'br' }
  t.equal(compareAnswers(plan, 'item', gzip, json(alertRule())).result, 'match')
  t.equal(compareAnswers(plan, 'item', gzip, br).result, 'match')
  const changed: BodyAnswer = { status: 200, body: gzipSync(JSON.stringify(alertRule({ enabled: false }))), contentEncoding: 'gzip' }
  t.equal(compareAnswers(plan, 'item', gzip, changed).result, 'critical')
  t.match(compareAnswers(plan, 'item', json(alertRule()), { ...gzip, contentEncoding: 'br' }), { result: 'error', detail: /^new body could not be decompressed \(br\)/ })
})

t.test('a body that decompresses past the plan\'s bound is an error', async t => {
  const small = compilePlan(ALERT_RULE, { maxDecodedBytes: 100 })
  const gzip: BodyAnswer = { status: 200, body: gzipSync(JSON.stringify(alertRule())), contentEncoding: 'gzip' }
  t.match(compareAnswers(small, 'item', json(alertRule()), gzip), { result: 'error', detail: /^new body could not be decompressed \(gzip\)/ })
})

t.test('compareDocuments compares documents already parsed', async t => {
  t.equal(compareDocuments(plan, 'item', alertRule(), alertRule({ for: 300 })).result, 'match')
  t.equal(compareDocuments(plan, 'collection', page([alertRule()]), page([])).result, 'critical')
})

t.test('the canonical hash ignores key order and what the comparison ignores', async t => {
  const doc = alertRule()
  const reversed = Object.fromEntries(Object.entries(doc).reverse())
  t.equal(canonicalHash(plan, reversed), canonicalHash(plan, doc))
  t.equal(canonicalHash(plan, alertRule({ updatedAt: 'later', for: '300s', labels: ['sev1', 'prod', 'checkout'] })), canonicalHash(plan, doc))
  t.not(canonicalHash(plan, alertRule({ enabled: false })), canonicalHash(plan, doc))
  t.match(canonicalHash(plan, doc), /^[0-9a-f]{64}$/)
})

t.test('diffPointers lists what differs between two reads of the same side, for noise learning', async t => {
  t.same(diffPointers(plan, 'item', json(alertRule({ lastEvaluatedAt: 1 })), json(alertRule({ lastEvaluatedAt: 2 }))), ['/lastEvaluatedAt'])
  t.same(diffPointers(plan, 'item', json(alertRule()), json(alertRule({ updatedAt: 'later' }))), [], 'already ignored')
  t.same(diffPointers(plan, 'collection', json(page([alertRule({ lastEvaluatedAt: 1 })])), json(page([alertRule({ lastEvaluatedAt: 2 })]))), ['/items/*/lastEvaluatedAt'])
  t.same(diffPointers(plan, 'item', json(alertRule()), json('', 500)), [], 'a failed read has no pointers')
})
