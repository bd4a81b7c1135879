import t from 'tap'
import type { CompareConfig } from '../../src/policy/schema.ts'
import { compileNormalization, normalizeDocument, toLowerCase, toNumber, toSeconds, trim } from '../../src/parity/normalize.ts'

function normalize(compare: Partial<CompareConfig>, doc: unknown): unknown {
  return normalizeDocument(compileNormalization({ ignore: [], unordered: {}, normalize: {}, critical: [], redact: [], ...compare }), doc)
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

t.test('durations in any spelling become the same number of seconds', async t => {
  for (const spelling of ['5m', '300s', '300', 300, '0.5m10s4m20s', '300000ms']) t.equal(toSeconds(spelling), 300, String(spelling))
  for (const spelling of ['1h30m', '90m', '5400s', '1.5h']) t.equal(toSeconds(spelling), 5400, spelling)
  t.equal(toSeconds('1500ms'), toSeconds('1.5s'))
  t.equal(toSeconds('250ms'), 0.25)
  t.equal(toSeconds('2000ns'), toSeconds('2us'))
  t.equal(toSeconds('2µs'), toSeconds('2us'))
  t.equal(toSeconds('1d'), 86_400)
  t.equal(toSeconds('1w'), 604_800)
  t.equal(toSeconds('0'), 0)
})

t.test('a value that is not a duration is left as it is', async t => {
  for (const value of ['soon', '5M', '5 m', '', '-5m', 'm5', '5m ', true, null, ['5m'], { m: 5 }]) t.same(toSeconds(value), value, JSON.stringify(value))
  const huge = '9'.repeat(400)
  t.equal(toSeconds(huge), huge, 'a number too large for a float stays a string')
  t.equal(toSeconds(`${huge}h`), `${huge}h`)
})

t.test('lowercase and trim change strings only', async t => {
  t.equal(toLowerCase('Critical'), 'critical')
  t.equal(toLowerCase(5), 5)
  t.equal(trim('  pager \n'), 'pager')
  t.same(trim(['  a ']), ['  a '])
})

t.test('number turns numeric strings into numbers and leaves everything else', async t => {
  t.equal(toNumber('5'), 5)
  t.equal(toNumber(' 5 '), 5)
  t.equal(toNumber('-1.5e3'), -1500)
  t.equal(toNumber('+.5'), 0.5)
  t.equal(toNumber('5.'), 5)
  for (const value of ['0x10', '', ' ', 'five', '1e400', 'Infinity', '5 5', 5, null, false]) t.equal(toNumber(value), value, JSON.stringify(value))
})

t.test('ignored pointers are dropped, in objects and in arrays', async t => {
  const doc = deepFreeze({ updatedAt: 'now', name: 'r', receivers: [{ name: 'a', id: 1 }, { name: 'b', id: 2 }], labels: ['x', 'y', 'z'] })
  t.same(normalize({ ignore: ['/updatedAt', '/receivers/*/id', '/labels/1', '/absent/deeper'] }, doc), {
    name: 'r', receivers: [{ name: 'a' }, { name: 'b' }], labels: ['x', 'z'],
  })
  t.same(normalize({ ignore: ['/receivers/*'] }, doc), { updatedAt: 'now', name: 'r', receivers: [], labels: ['x', 'y', 'z'] })
  t.equal(normalize({ ignore: [''] }, doc), null, 'ignoring the whole document leaves nothing to compare')
})

t.test('normalizers apply at their pointers, * matching every key and index', async t => {
  const doc = deepFreeze({ for: '5m', severity: 'Critical', receivers: [{ timeout: '30s' }, { timeout: 30 }, { timeout: 'never' }], routing: null, count: 3 })
  t.same(normalize({ normalize: { '/for': 'duration', '/severity': 'lowercase', '/receivers/*/timeout': 'duration', '/routing/for': 'duration', '/count/x': 'trim' } }, doc), {
    for: 300, severity: 'critical', receivers: [{ timeout: 30 }, { timeout: 30 }, { timeout: 'never' }], routing: null, count: 3,
  })
})

t.test('a key with its own normalizer also gets its * sibling\'s, trimmed before parsed', async t => {
  const doc = deepFreeze({ limits: { cpu: ' 5 ', memory: ' Big ' } })
  t.same(normalize({ normalize: { '/limits/*': 'trim', '/limits/cpu': 'number' } }, doc), { limits: { cpu: 5, memory: 'Big' } })
  t.same(normalize({ normalize: { '/limits/cpu': 'number', '/limits/*': 'trim' } }, doc), { limits: { cpu: 5, memory: 'Big' } }, 'the order in the policy does not matter')
})

t.test('a missing value takes its default where the parent exists; a present one is kept', async t => {
  const compare = { normalize: { '/severity': { default: 'warning' }, '/routing/continue': { default: false }, '/receivers/*/port': { default: 443 }, '/silenced': { default: null } } }
  t.same(normalize(compare, { routing: {}, receivers: [{ port: 80 }, {}] }), {
    routing: { continue: false }, receivers: [{ port: 80 }, { port: 443 }], severity: 'warning', silenced: null,
  })
  t.same(normalize(compare, { severity: 'critical', silenced: true }), { severity: 'critical', silenced: true }, 'no parent, no routing object is made up')
})

t.test('a default value is normalized like a present one', async t => {
  const compare = { normalize: { '/routing': { default: { wait: '1m', group: ['b', 'a'] } }, '/routing/wait': 'duration' as const }, unordered: { '/routing/group': null } }
  t.same(normalize(compare, {}), { routing: { wait: 60, group: ['a', 'b'] } })
  t.same(normalize(compare, { routing: { wait: '60s', group: ['a', 'b'] } }), { routing: { wait: 60, group: ['a', 'b'] } })
})

t.test('an ignored pointer gets no default', async t => {
  t.same(normalize({ ignore: ['/updatedAt'], normalize: { '/updatedAt': { default: 'never' } } }, { a: 1 }), { a: 1 })
})

t.test('unordered arrays sort by the key pointer of each element', async t => {
  const receivers = [{ name: 'chat', type: 'slack' }, { name: 'pager', type: 'pd' }, { name: 'email', type: 'smtp' }]
  t.same(normalize({ unordered: { '/receivers': '/name' } }, { receivers }), {
    receivers: [{ name: 'chat', type: 'slack' }, { name: 'email', type: 'smtp' }, { name: 'pager', type: 'pd' }],
  })
  const nested = [{ meta: { id: 2 } }, { meta: { id: 10 } }, { meta: { id: 1 } }]
  t.same(normalize({ unordered: { '/list': '/meta/id' } }, { list: nested }), { list: [{ meta: { id: 1 } }, { meta: { id: 10 } }, { meta: { id: 2 } }] },
    'non-string keys sort by their canonical JSON')
})

t.test('unordered arrays without a key pointer sort by each element\'s canonical form', async t => {
  t.same(normalize({ unordered: { '/labels': null } }, { labels: ['prod', 'checkout', { b: 1, a: 2 }, 3, null] }), {
    labels: [3, 'checkout', null, 'prod', { a: 2, b: 1 }],
  })
})

t.test('elements with equal keys, or no key, still sort the same from any starting order', async t => {
  const a = { name: 'x', n: 1 }
  const b = { name: 'x', n: 2 }
  const c = { other: true }
  const d = 'bare'
  const sorted = normalize({ unordered: { '/r': '/name' } }, { r: [a, b, c, d] })
  for (const order of [[b, a, d, c], [c, d, b, a], [d, c, a, b]]) t.same(normalize({ unordered: { '/r': '/name' } }, { r: order }), sorted)
})

t.test('unordered arrays are sorted after their elements are normalized', async t => {
  const compare = { unordered: { '/receivers': '/name', '/receivers/*/tags': null }, normalize: { '/receivers/*/name': 'lowercase' as const } }
  t.same(normalize(compare, { receivers: [{ name: 'Pager', tags: ['b', 'a'] }, { name: 'chat', tags: [] }] }), {
    receivers: [{ name: 'chat', tags: [] }, { name: 'pager', tags: ['a', 'b'] }],
  })
})

t.test('unordered on a value that is not an array changes nothing', async t => {
  t.same(normalize({ unordered: { '/labels': null } }, { labels: 'none' }), { labels: 'none' })
})

t.test('normalizing never changes the input document', async t => {
  const doc = deepFreeze({ a: '5m', list: ['b', 'a'], drop: 1, nested: [{ x: ' X ' }] })
  normalize({ ignore: ['/drop'], normalize: { '/a': 'duration', '/nested/*/x': 'trim', '/missing': { default: 1 } }, unordered: { '/list': null } }, doc)
  t.same(doc, { a: '5m', list: ['b', 'a'], drop: 1, nested: [{ x: ' X ' }] })
})

t.test('a key named __proto__ is compared like any other key', async t => {
  const doc = JSON.parse('{"__proto__": {"a": 1}, "b": 2}')
  const out = normalize({ ignore: ['/b'] }, doc) as Record<string, unknown>
  t.same(Object.keys(out), ['__proto__'])
  t.equal(Object.getPrototypeOf(out), Object.prototype)
  const copied = normalize({ normalize: { '/b': 'number' } }, doc) as Record<string, unknown>
  t.same(Object.keys(copied), ['__proto__', 'b'], 'also when the object is copied whole')
  t.equal(Object.getPrototypeOf(copied), Object.prototype)
  const named = normalize({ normalize: { '/__proto__/a': 'number' } }, JSON.parse('{"__proto__": {"a": "1"}}')) as Record<string, unknown>
  t.same(Object.getOwnPropertyDescriptor(named, '__proto__')?.value, { a: 1 }, 'and when a rule names it')
  t.equal(Object.getPrototypeOf(named), Object.prototype)
})
