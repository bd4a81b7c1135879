// The request target is normalized once, the way the upstream would, before anything is decided
// on it: the path that is classified is the path that is forwarded.
import { request } from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openStateStore } from '../../src/state/open.ts'
import { writePolicy } from '../helpers/policy.ts'
import { rawRequest } from '../helpers/raw-http.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

async function setup(t: Test) {
  // Stopped before the test directory goes (teardowns run in order): an announcement may still be on its way to the store.
  let stop = async () => {}
  t.teardown(() => stop())
  const dir = scratchDir(t)
  const { oldUp, newUp } = await startPair(t)
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra: 'readYourWrites: { windowMs: 60000 }' }), stateDir: join(dir, 'proxy'), changeStore: state })
  stop = async () => { await sidecar.stop(); await state.close() }
  return { oldUp, newUp, sidecar, state }
}

const decision = (headers: Record<string, unknown>) => [headers['x-dualread-served-by'], headers['x-dualread-rule'], headers['x-dualread-reason']]

t.test('a write through dot segments is the write it resolves to: forwarded on that path, announced to the sync and pinning reads', async t => {
  const { oldUp, newUp, sidecar, state } = await setup(t)
  for (const path of ['/api/v1/tenants/acme/alert-rules/../alert-rules/r2', '/api/v1/tenants/foo/%2e%2e/acme/alert-rules/r3', '/api/v1/tenants/acme/./alert-rules/.%2E/alert-rules/r4']) {
    const res = await rawRequest(sidecar.proxyUrl, { method: 'PUT', path, body: '{}' })
    t.equal(res.status, 200, path)
    t.same(decision(res.headers), ['old', 'acme-on-new', 'write'], `${path} is a write of acme's alert-rules`)
  }
  t.same(oldUp.writes().map(w => w.url), ['/api/v1/tenants/acme/alert-rules/r2', '/api/v1/tenants/acme/alert-rules/r3', '/api/v1/tenants/acme/alert-rules/r4'], 'the authority got the resolved paths')
  t.equal(newUp.received.length, 0)
  const changes = await eventually(() => state.changes.read('0', 10), c => c.length === 3)
  t.match(changes, [{ resourceType: 'alert-rule', tenant: 'acme', id: 'r2' }, { tenant: 'acme', id: 'r3' }, { tenant: 'acme', id: 'r4' }], 'each write is announced to the sync')
  const read = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r2' })
  t.same(decision(read.headers), ['old', 'acme-on-new', 'read-your-writes'], 'the next read of acme is not served stale by new')
})

t.test('a read through dot segments follows the rule of the path it resolves to, and reaches the upstream on that path', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const res = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/other/%2E%2E/acme/alert-rules/r1?cursor=../x' })
  t.equal(res.status, 200)
  t.same(decision(res.headers), ['new', 'acme-on-new', 'rule'])
  t.same(newUp.reads().map(r => r.url), ['/api/v1/tenants/acme/alert-rules/r1?cursor=../x'], 'the query string is left alone')
  t.equal(oldUp.received.length, 0)
  const passthrough = await rawRequest(sidecar.proxyUrl, { method: 'POST', path: '/api/v1/tenants/acme/alert-rules/r1/../../../../unknown/./thing', body: '{}' })
  t.same(decision(passthrough.headers), ['old', '(none)', 'passthrough'])
  t.equal(oldUp.received.at(-1)?.url, '/api/v1/unknown/thing', 'passthrough is forwarded on the resolved path too')
})

t.test('a path that climbs above the root or hides a separator is refused with 400, and reaches no upstream', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const cases: Array<[string, string, RegExp]> = [
    ['GET', '/..', /above the root/],
    ['PUT', '/api/../../api/v1/tenants/acme/alert-rules/r1', /above the root/],
    ['GET', '/%2e%2E/api/v1/teams', /above the root/],
    ['PUT', '/api/v1/tenants/foo%2F..%2Facme/alert-rules/r1', /encoded "\/"/],
    ['GET', '/api/v1/tenants/acme%5c..%5Cother/alert-rules', /encoded "\\"/],
    ['DELETE', '/api/v1/tenants/acme/alert-rules\\..\\r1', /"\\"/],
    ['GET', '/api/v1/tenants/other/..;x=1/acme/alert-rules', /";"/],
    ['OPTIONS', '*', /must be a path/],
    ['GET', 'ftp://evil.example/api/v1/teams', /must be a path/],
  ]
  for (const [method, path, detail] of cases) {
    const res = await rawRequest(sidecar.proxyUrl, { method, path })
    t.equal(res.status, 400, `${method} ${path}`)
    t.match(JSON.parse(res.body), { error: 'bad_request', detail }, `${method} ${path}: ${res.body}`)
  }
  t.equal(oldUp.received.length + newUp.received.length, 0, 'no upstream saw any of them')
})

t.test('an absolute-form target reaches the upstreams in origin form, for reads and writes', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const read = await rawRequest(sidecar.proxyUrl, { path: 'http://evil.example/api/v1/tenants/other/alert-rules/r1?x=1' })
  t.equal(read.status, 200)
  t.same(decision(read.headers), ['old', 'default', 'rule'])
  const write = await rawRequest(sidecar.proxyUrl, { method: 'PUT', path: 'HTTP://evil.example:8080/api/v1/tenants/acme/alert-rules/r9', body: '{}' })
  t.same(decision(write.headers), ['old', 'acme-on-new', 'write'])
  const root = await rawRequest(sidecar.proxyUrl, { path: 'http://evil.example?q=1' })
  t.equal(root.status, 200)
  t.same(oldUp.received.map(r => `${r.method} ${r.url}`), ['GET /api/v1/tenants/other/alert-rules/r1?x=1', 'PUT /api/v1/tenants/acme/alert-rules/r9', 'GET /?q=1'])
  t.ok(oldUp.received.every(r => r.headers.host !== 'evil.example'), 'the client-named host is not passed on as Host')
  t.equal(newUp.received.length, 0)
})

t.test('a websocket upgrade to a refused target is answered 400 and never tunnelled', async t => {
  const { oldUp, sidecar } = await setup(t)
  const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(sidecar.proxyUrl + '/api/v1/stream', { path: '/api/../../stream', headers: { connection: 'Upgrade', upgrade: 'websocket' } })
    req.on('response', res => {
      let body = ''
      res.on('data', d => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
    req.end()
  })
  t.equal(answer.status, 400)
  t.match(JSON.parse(answer.body), { error: 'bad_request', detail: /above the root/ })
  t.equal(oldUp.received.length, 0)
})
