// What a comparison worker does with a pair, run in this thread (the same function the workers run).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import workerEntry from '../../src/parity/compare-worker.ts'
import { comparer, compareInWorker, type CompareTask, type WireAnswer } from '../../src/parity/compare-task.ts'
import { maskKey } from '../../src/parity/redact.ts'
import { ALERT_RULE, alertRule } from './fixtures.ts'

const wire = (doc: unknown, status = 200): WireAnswer => ({ status, body: new Uint8Array(Buffer.from(JSON.stringify(doc))) })
const task = (old: WireAnswer, neu: WireAnswer, over: Partial<CompareTask> = {}): CompareTask =>
  ({ resourceType: 'alert-rule', kind: 'item', old, new: neu, explain: true, knownSecrets: [], ...over })

t.test('a difference comes back classified and explained, secrets masked with the key it was given', async t => {
  const key = randomBytes(32)
  const compare = comparer({ resources: [ALERT_RULE], maskKey: key })
  const c = compare(task(wire(alertRule()), wire(alertRule({ enabled: false, config: { token: 'secret-2' } }))))
  t.equal(c.result, 'critical')
  t.same(c.pointers.map(p => p.pointer), ['/config/token', '/enabled'])
  t.match(c.diff, [{ path: '/config/token', old: /^\[redacted:[0-9a-f]{8}\]$/ }, { path: '/enabled', old: true, new: false }])
  t.notOk(JSON.stringify(c.diff).includes('secret-'), 'no secret value in the explanation')
  t.same(Object.keys(c).sort(), ['diff', 'pointers', 'result', 'versionsDiffer'], 'the compared documents stay in the worker')
  t.equal(maskKey(), key, 'the key in use is the one given')
  // The mask depends on the key: the same secret, another key, another mask (a worker masks like its process).
  const other = comparer({ resources: [ALERT_RULE], maskKey: randomBytes(32) })(task(wire(alertRule()), wire(alertRule({ enabled: false, config: { token: 'secret-2' } }))))
  t.not(other.diff![0]!.old, c.diff![0]!.old)
})

t.test('an upstream credential this process sends is masked in an explanation', async t => {
  const compare = comparer({ resources: [ALERT_RULE], maskKey: maskKey() })
  const echoed = 'sk-live-0123456789abcdef'
  const c = compare(task(wire(alertRule({ note: 'x' })), wire(alertRule({ note: `forwarded ${echoed}` })), { knownSecrets: [echoed] }))
  t.equal(c.result, 'cosmetic')
  t.match(c.diff, [{ path: '/note', new: /^\[redacted:/ }])
})

t.test('compressed bodies are decoded; a malformed one is an error of its side; noise needs no explanation', async t => {
  const compare = comparer({ resources: [ALERT_RULE], maskKey: maskKey(), maxDecodedBytes: 1024 * 1024 })
  const gz: WireAnswer = { status: 200, body: new Uint8Array(gzipSync(JSON.stringify(alertRule()))), contentEncoding: 'gzip' }
  t.equal(compare(task(gz, wire(alertRule()))).result, 'match')
  const bad = compare(task(wire(alertRule()), { status: 200, body: new Uint8Array(Buffer.from('{"id":')) }))
  t.same([bad.result, bad.failedSide], ['error', 'new'])
  t.match(bad.detail, /^new body is not JSON/)
  const noise = compare(task(wire(alertRule()), wire(alertRule({ name: 'other' })), { explain: false }))
  t.same([noise.result, noise.diff], ['cosmetic', undefined])
  const huge: WireAnswer = { status: 200, body: new Uint8Array(gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20))), contentEncoding: 'gzip' }
  t.match(compare(task(huge, wire(alertRule()))), { result: 'error', failedSide: 'old', detail: /could not be decompressed/ }, 'a body past the bound is an error, not an allocation')
})

t.test('a resource type the generation does not know is an error, not a crash', async t => {
  const c = comparer({ resources: [ALERT_RULE], maskKey: maskKey() })(task(wire({}), wire({ a: 1 }), { resourceType: 'gone' }))
  t.same([c.result, c.detail], ['error', 'no compare rules for resource type "gone" in this policy generation'])
})

t.test('the worker entry builds its comparer once, from the plans it was started with', async t => {
  t.equal(workerEntry, compareInWorker, 'compare-worker.ts is what piscina loads')
  const plans = { resources: [ALERT_RULE], maskKey: maskKey() }
  t.equal(compareInWorker(task(wire(alertRule()), wire(alertRule({ threshold: 1 }))), plans).result, 'critical')
  // Later pairs use the comparer built for the first: the plans are not looked at again.
  t.equal(compareInWorker(task(wire(alertRule()), wire(alertRule())), { resources: [], maskKey: maskKey() }).result, 'match')
})
