import fc from 'fast-check'
import t from 'tap'
import { compareAnswers, compilePlan } from '../../src/parity/compare.ts'
import { diffOperations } from '../../src/parity/diff.ts'
import { parsePointer, valueAt } from '../../src/parity/pointer.ts'
import { explainDiff, hasCredentials, mask, MAX_EXPLAINED_OPERATIONS, redact } from '../../src/parity/redact.ts'
import { ALERT_RULE, alertRule, json, resourceWith } from './fixtures.ts'

const plan = compilePlan(resourceWith({
  compare: { redact: ['/config/token', '/receivers/*/webhook', '/headers/*'] },
}))

function byPath(a: unknown, b: unknown): number {
  return (a as { path: string }).path < (b as { path: string }).path ? -1 : 1
}

/** The mask of a value given as JSON: 8 hex of a keyed hash, the same for equal values. */
function masked(json: string): string {
  return mask(JSON.parse(json))
}

t.test('values at redact pointers are replaced by a short hash of the value', async t => {
  const doc = {
    name: 'rule',
    config: { token: 's3cret', region: 'eu' },
    receivers: [{ name: 'a', webhook: 'https://hooks.example.com/1' }, { name: 'b', webhook: { url: 'x', hmac: 'y' } }],
    headers: { 'x-custom': 'abc' },
  }
  t.same(redact(plan, doc), {
    name: 'rule',
    config: { token: masked('"s3cret"'), region: 'eu' },
    receivers: [{ name: 'a', webhook: masked('"https://hooks.example.com/1"') }, { name: 'b', webhook: masked('{"hmac":"y","url":"x"}') }],
    headers: { 'x-custom': masked('"abc"') },
  })
  t.equal(doc.config.token, 's3cret', 'the input is not modified')
})

t.test('secret-looking keys are redacted at any depth, in objects and arrays', async t => {
  const doc = {
    receivers: [
      { name: 'pd', routingKey: 'rk-1', nested: [{ apiKey: 'ak-1' }] },
      { name: 'hook', headers: [{ 'x-auth-token': 't-1' }, { Authorization: 'Bearer abc' }] },
    ],
    owner: { password: 'pw', clientSecret: { a: 1 }, passwd: 'pw2', credentials: ['c'], Cookie: 'sid=1' },
  }
  const out = redact(plan, doc) as typeof doc
  t.same(out, {
    receivers: [
      { name: 'pd', routingKey: masked('"rk-1"'), nested: [{ apiKey: masked('"ak-1"') }] },
      { name: 'hook', headers: [{ 'x-auth-token': masked('"t-1"') }, { Authorization: masked('"Bearer abc"') }] },
    ],
    owner: { password: masked('"pw"'), clientSecret: masked('{"a":1}'), passwd: masked('"pw2"'), credentials: masked('["c"]'), Cookie: masked('"sid=1"') },
  })
})

t.test('URLs with credentials are redacted wherever they appear, values and keys', async t => {
  const doc = {
    endpoints: ['https://user:pass@hooks.example.com/x', 'https://hooks.example.com/x', 'see redis://:hunter2@cache:6379/0 for details', 'mail me@example.com', 'https://host/path@x'],
    byUrl: { 'https://u:p@h.example.com': { ok: true } },
    tokenAsUser: 'https://ghp_abc@github.com/org/repo.git',
  }
  t.same(redact(plan, doc), {
    endpoints: [masked('"https://user:pass@hooks.example.com/x"'), 'https://hooks.example.com/x', masked('"see redis://:hunter2@cache:6379/0 for details"'), 'mail me@example.com', 'https://host/path@x'],
    byUrl: { [masked('"https://u:p@h.example.com"')]: { ok: true } },
    tokenAsUser: masked('"https://ghp_abc@github.com/org/repo.git"'),
  })
})

t.test('credentials in an authentication scheme are redacted under any key; auth-like keys are secrets, author is not', async t => {
  const doc = {
    headerValue: 'Bearer eyJhbGciOi.x.y', note: 'call with Basic dXNlcjpwYXNz', plain: 'basically fine',
    authHeader: { v: 1 }, basicAuth: 'x', 'x-auth': 'y',
    author: 'alice', authority: 'old',
    byScheme: { 'Bearer abc': 1 },
  }
  t.same(redact(plan, doc), {
    headerValue: masked('"Bearer eyJhbGciOi.x.y"'), note: masked('"call with Basic dXNlcjpwYXNz"'), plain: 'basically fine',
    authHeader: masked('{"v":1}'), basicAuth: masked('"x"'), 'x-auth': masked('"y"'),
    author: 'alice', authority: 'old',
    byScheme: { [masked('"Bearer abc"')]: 1 },
  })
  t.same(explainDiff(plan, { receiver: { header: 'Bearer old-one' } }, { receiver: { header: 'Bearer new-one' } }),
    [{ op: 'replace', path: '/receiver/header', old: masked('"Bearer old-one"'), new: masked('"Bearer new-one"') }], 'a diff shows the change as two hashes')
})

t.test('a URL holds credentials when userinfo follows its "://", wherever it is in the text', async t => {
  t.ok(hasCredentials('https://user:pass@host'))
  t.ok(hasCredentials('https://token@host'))
  t.ok(hasCredentials('first https://host/a then ldap://cn:pw@dir'), 'not only the first URL')
  t.notOk(hasCredentials('https://host/a?email=me@example.com'))
  t.notOk(hasCredentials('https://@host'), 'empty userinfo holds nothing')
  t.notOk(hasCredentials('me@example.com'))
  t.notOk(hasCredentials('https://host'))
})

t.test('equal secrets look equal and different secrets look different', async t => {
  const out = redact(plan, { a: { token: 'same' }, b: { token: 'same' }, c: { token: 'other' } }) as Record<string, { token: string }>
  t.equal(out.a!.token, out.b!.token)
  t.not(out.a!.token, out.c!.token)
  t.match(out.a!.token, /^\[redacted:[0-9a-f]{8}\]$/)
})

t.test('everything else is copied as it is', async t => {
  const doc = { a: [1, null, true, 'x', { b: [] }], key: undefined }
  t.same(redact(plan, { a: doc.a }), { a: [1, null, true, 'x', { b: [] }] })
  t.equal(redact(plan, 'plain'), 'plain')
  t.equal(redact(plan, 5), 5)
  const whole = compilePlan(resourceWith({ compare: { redact: [''] } }))
  t.equal(redact(whole, { a: 1 }), masked('{"a":1}'), 'a redact pointer at the root hides the whole document')
})

t.test('redact pointers also apply to each item of a collection', async t => {
  const alertRules = compilePlan(ALERT_RULE)
  const c = compareAnswers(alertRules, 'collection', json({ items: [alertRule({ config: { token: 'old-secret' } })] }), json({ items: [alertRule({ config: { token: 'new-secret' } })] }))
  t.same(redact(alertRules, c.old), { items: { r1: { ...(redact(alertRules, c.old) as { items: { r1: object } }).items.r1, config: { token: masked('"old-secret"') } } } })
  const explained = explainDiff(alertRules, c.old, c.new)
  t.same(explained, [{ op: 'replace', path: '/items/r1/config/token', old: masked('"old-secret"'), new: masked('"new-secret"') }])
  t.same(redact(alertRules, { items: [{ config: { token: 'in a raw page' } }] }), { items: [{ config: { token: masked('"in a raw page"') } }] })
})

t.test('explainDiff shows what changed with secrets as hashes, never the secret', async t => {
  const old = { name: 'a', enabled: true, config: { token: 'tok-old', region: 'eu' }, routingKey: 'rk', receivers: [{ name: 'x', webhook: 'https://a' }] }
  const changed = { name: 'b', config: { token: 'tok-new', region: 'eu' }, routingKey: 'rk', receivers: [{ name: 'x', webhook: 'https://b' }], added: [1] }
  const explained = explainDiff(plan, old, changed)
  t.same([...explained].sort(byPath), [
    { op: 'add', path: '/added', new: [1] },
    { op: 'replace', path: '/config/token', old: masked('"tok-old"'), new: masked('"tok-new"') },
    { op: 'remove', path: '/enabled', old: true },
    { op: 'replace', path: '/name', old: 'a', new: 'b' },
    { op: 'replace', path: '/receivers/0/webhook', old: masked('"https://a"'), new: masked('"https://b"') },
  ])
  const shown = JSON.stringify(explained)
  for (const secret of ['tok-old', 'tok-new', 'https://a', 'https://b']) t.notOk(shown.includes(secret), secret)
})

t.test('changes inside a secret show as one change of the secret, without its inner keys', async t => {
  const old = { apiKeys: { 'sk-live-123': true, 'sk-live-456': true }, note: 'x' }
  const changed = { apiKeys: { 'sk-live-123': false, 'sk-live-789': true }, note: 'x' }
  const explained = explainDiff(plan, old, changed)
  t.same(explained, [{ op: 'replace', path: '/apiKeys', old: masked('{"sk-live-123":true,"sk-live-456":true}'), new: masked('{"sk-live-123":false,"sk-live-789":true}') }])
  t.same(explainDiff(plan, { headers: { a: { b: 1 } } }, { headers: { a: { b: 2 } } }), [{ op: 'replace', path: '/headers/a', old: masked('{"b":1}'), new: masked('{"b":2}') }], 'under a redact pointer')
  t.same(explainDiff(plan, {}, { token: { a: 1 } }), [{ op: 'add', path: '/token', new: masked('{"a":1}') }])
})

t.test('a key holding credentials is masked in the path too', async t => {
  const explained = explainDiff(plan, { byUrl: { 'https://u:p@h': 1 } }, { byUrl: { 'https://u:p@h': 2 } })
  t.same(explained, [{ op: 'replace', path: `/byUrl/${masked('"https://u:p@h"')}`, old: 1, new: 2 }])
})

t.test('a whole document of another type is one replace of the root', async t => {
  t.same(explainDiff(plan, { a: 1 }, [1]), [{ op: 'replace', path: '', old: { a: 1 }, new: [1] }])
  const whole = compilePlan(resourceWith({ compare: { redact: [''] } }))
  t.same(explainDiff(whole, { a: 1 }, { a: 2, b: 3 }), [{ op: 'replace', path: '', old: masked('{"a":1}'), new: masked('{"a":2,"b":3}') }])
})

t.test('explainDiff stops at 50 operations', async t => {
  const old = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, i]))
  const changed = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, i + 1]))
  t.equal(explainDiff(plan, old, changed).length, MAX_EXPLAINED_OPERATIONS)
  t.same(explainDiff(plan, old, old), [])
})

/** Documents whose keys and strings are often secret-looking. */
const key = fc.constantFrom('name', 'config', 'token', 'apiKey', 'webhook', 'headers', 'receivers', 'x', 'https://u:p@h', 'a/b')
const leaf = fc.oneof(fc.constantFrom('s1', 's2', 'https://u:p@h/1', 'https://h/1', 'plain'), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constant(null))
const doc = fc.letrec(tie => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), tie('array')),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  array: fc.array(tie('value'), { maxLength: 3 }),
})).object

/** The reference: diff the two redacted documents. */
function diffOfRedacted(a: unknown, b: unknown): unknown[] {
  const ra = redact(plan, a)
  const rb = redact(plan, b)
  return diffOperations(ra, rb).map(op => {
    const before = valueAt(ra, parsePointer(op.path))
    const after = valueAt(rb, parsePointer(op.path))
    return { op: before === undefined ? 'add' : after === undefined ? 'remove' : 'replace', path: op.path, ...(before === undefined ? {} : { old: before }), ...(after === undefined ? {} : { new: after }) }
  })
}

t.test('explainDiff says what a diff of the two redacted documents says', async t => {
  fc.assert(fc.property(doc, doc, (a, b) => {
    t.same(explainDiff(plan, a, b).sort(byPath), diffOfRedacted(a, b).sort(byPath))
  }), { numRuns: 300 })
})

t.test('explainDiff never shows a secret, whatever the documents', async t => {
  fc.assert(fc.property(doc, doc, (a, b) => {
    const shown = JSON.stringify(explainDiff(plan, { ...a, token: 'SECRET-A', c: 'https://u:SECRET-B@h' }, { ...b, token: 'SECRET-C', config: { token: 'SECRET-D' } }))
    return !/SECRET/.test(shown)
  }), { numRuns: 300 })
})
