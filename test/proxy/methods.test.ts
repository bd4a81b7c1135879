// Which requests count as writes: methods that change state, and GETs that ask the authority to
// treat them as one (method-override hints). Everything that is not a read goes to the authority only.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openStateStore } from '../../src/state/open.ts'
import { writePolicy } from '../helpers/policy.ts'
import { rawRequest } from '../helpers/raw-http.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const RULES = `
  - name: acme-on-new
    match: { tenants: [acme], resourceTypes: [alert-rule] }
    primary: new
  - name: default
    primary: old
    shadowPercent: 100
`

async function setup(t: Test) {
  // Stopped before the test directory goes (teardowns run in order): an announcement may still be on its way to the store.
  let stop = async () => {}
  t.teardown(() => stop())
  const dir = scratchDir(t)
  const { oldUp, newUp } = await startPair(t)
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, rules: RULES, extra: 'readYourWrites: { windowMs: 60000 }' }), stateDir: join(dir, 'proxy'), changeStore: state })
  stop = async () => { await sidecar.stop(); await state.close() }
  return { oldUp, newUp, sidecar, state }
}

const decision = (headers: Record<string, unknown>) => [headers['x-dualread-served-by'], headers['x-dualread-rule'], headers['x-dualread-reason']]

t.test('a GET carrying a method override to a mutating method is a write: authority only, announced, pinning reads', async t => {
  const { oldUp, newUp, sidecar, state } = await setup(t)
  const cases: Array<[string, string, Record<string, string>]> = [
    ['GET', '/api/v1/tenants/acme/alert-rules/r1', { 'x-http-method-override': 'DELETE' }],
    ['GET', '/api/v1/tenants/acme/alert-rules/r2', { 'x-http-method': 'put' }],
    ['HEAD', '/api/v1/tenants/acme/alert-rules/r3', { 'x-method-override': ' PATCH ' }],
    ['GET', '/api/v1/tenants/acme/alert-rules/r4?_method=delete&x=1', {}],
  ]
  for (const [method, path, headers] of cases) {
    const res = await rawRequest(sidecar.proxyUrl, { method, path, headers })
    t.same(decision(res.headers), ['old', 'acme-on-new', 'write'], `${method} ${path} ${JSON.stringify(headers)}`)
  }
  t.same(oldUp.received.map(r => `${r.method} ${r.url}`), cases.map(([m, p]) => `${m} ${p}`), 'the authority got them as sent, hints included')
  t.equal(oldUp.received[0]!.headers['x-http-method-override'], 'DELETE')
  t.equal(newUp.received.length, 0, 'new, which serves acme\'s reads, never saw them')
  const changes = await eventually(() => state.changes.read('0', 10), c => c.length === 4)
  t.same(changes.map(c => c.id), ['r1', 'r2', 'r3', 'r4'], 'each is announced to the sync')
  const read = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r1' })
  t.same(decision(read.headers), ['old', 'acme-on-new', 'read-your-writes'])
})

t.test('a method override on a shadowed read never reaches the shadow side', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const res = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/other/alert-rules/r1', headers: { 'x-http-method-override': 'DELETE' } })
  t.same(decision(res.headers), ['old', 'default', 'write'])
  // A plain read of the same rule (another tenant: other is pinned now) is shadowed: once its shadow arrived, the override's would have too.
  const plain = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/globex/alert-rules/r2' })
  t.same(decision(plain.headers), ['old', 'default', 'rule'])
  await eventually(() => newUp.received.length, n => n >= 1)
  t.same(newUp.received.map(r => r.url), ['/api/v1/tenants/globex/alert-rules/r2'], 'only the plain read was shadowed')
  t.equal(oldUp.received.length, 2)
})

t.test('an override to a read, or to a method that changes nothing, keeps its meaning', async t => {
  const { oldUp, newUp, sidecar, state } = await setup(t)
  const asRead = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r1', headers: { 'x-http-method-override': 'GET' } })
  t.same(decision(asRead.headers), ['new', 'acme-on-new', 'rule'], 'GET overridden to GET is still a read')
  const empty = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r1?_method=', headers: { 'x-http-method': '' } })
  t.same(decision(empty.headers), ['new', 'acme-on-new', 'rule'], 'an empty hint is no hint')
  const options = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r1', headers: { 'x-http-method-override': 'OPTIONS' } })
  t.same(decision(options.headers), ['old', 'acme-on-new', 'passthrough'], 'GET overridden to OPTIONS goes to the authority without write bookkeeping')
  const post = await rawRequest(sidecar.proxyUrl, { method: 'POST', path: '/api/v1/tenants/acme/alert-rules/r5', headers: { 'x-http-method-override': 'GET' }, body: '{}' })
  t.same(decision(post.headers), ['old', 'acme-on-new', 'write'], 'a POST stays a write whatever it says it is')
  t.equal(newUp.received.length, 2)
  t.equal(oldUp.received.length, 2)
  const changes = await eventually(() => state.changes.read('0', 10), c => c.length >= 1)
  t.same(changes.map(c => c.id), ['r5'])
})

t.test('OPTIONS, PROPFIND and other methods that change nothing go to the authority only, without pinning reads or telling the sync', async t => {
  const { oldUp, newUp, sidecar, state } = await setup(t)
  const preflight = await rawRequest(sidecar.proxyUrl, { method: 'OPTIONS', path: '/api/v1/tenants/acme/alert-rules/r1', headers: { origin: 'https://ui.example', 'access-control-request-method': 'PUT' } })
  t.equal(preflight.status, 200)
  t.same(decision(preflight.headers), ['old', 'acme-on-new', 'passthrough'])
  for (const method of ['PROPFIND', 'TRACE', 'REPORT', 'SEARCH']) {
    const res = await rawRequest(sidecar.proxyUrl, { method, path: '/api/v1/tenants/acme/alert-rules' })
    t.same(decision(res.headers), ['old', 'acme-on-new', 'passthrough'], method)
  }
  t.same(oldUp.received.map(r => r.method), ['OPTIONS', 'PROPFIND', 'TRACE', 'REPORT', 'SEARCH'])
  const read = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/acme/alert-rules/r1' })
  t.same(decision(read.headers), ['new', 'acme-on-new', 'rule'], 'reads of acme are not pinned to the authority')
  for (const method of ['MKCOL', 'PROPPATCH']) {
    const res = await rawRequest(sidecar.proxyUrl, { method, path: `/api/v1/tenants/acme/alert-rules/${method}` })
    t.same(decision(res.headers), ['old', 'acme-on-new', 'write'], `${method} changes state`)
  }
  const changes = await eventually(() => state.changes.read('0', 10), c => c.length >= 2)
  t.same(changes.map(c => c.id), ['MKCOL', 'PROPPATCH'], 'only the WebDAV mutators were announced')
  t.equal(newUp.received.length, 1)
})
