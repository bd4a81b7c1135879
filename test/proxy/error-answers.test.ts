// What a client is told when the upstream it needed could not answer: the status says what
// happened (504 timeout, 502 otherwise), the body names the side, never an internal address.
import t from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { refusedPort, startPair, TestUpstream } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const NO_FALLBACK = `
  - name: default
    primary: old
    fallback: false
`

t.test('a write that times out is a 504 that says the write may have been applied', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, timeoutMs: 150 }), stateDir: dir })
  oldUp.behaviour = { delayMs: 1000 }
  const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
  t.equal(res.status, 504)
  const body = await res.json() as { error: string, detail: string }
  t.equal(body.error, 'authority_timeout')
  t.match(body.detail, /the old upstream did not answer within 150 ms/)
  t.match(body.detail, /may have been applied/)
  t.match(body.detail, /read it again before retrying/)
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-reason')], ['old', 'write'])
  const passthrough = await fetch(sidecar.proxyUrl + '/api/v1/unknown', { method: 'OPTIONS' })
  t.equal(passthrough.status, 504, 'a request that changes nothing times out with 504 too')
  t.same(await passthrough.json(), { error: 'authority_timeout', detail: 'the old upstream did not answer within 150 ms' })
  t.equal(newUp.writes().length, 0)
})

t.test('an unreachable upstream is named by its side, not by its address', async t => {
  const newUp = await TestUpstream.start('new')
  t.teardown(() => newUp.close())
  const port = await refusedPort()
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${port}`, newUrl: newUp.url, rules: NO_FALLBACK }), stateDir: dir })
  const write = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
  t.equal(write.status, 502)
  t.same(await write.json(), { error: 'authority_unavailable', detail: 'the old upstream refused the connection; the write was not applied' })
  const read = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1')
  t.equal(read.status, 502)
  const text = await read.text()
  t.same(JSON.parse(text), { error: 'upstream_unavailable', detail: 'the old upstream refused the connection' })
  t.notMatch(text, String(port), 'no internal address or port')
  t.ok(sidecar.logs.some(l => l.includes(`ECONNREFUSED 127.0.0.1:${port}`)), 'the log keeps the full error for the operator')
})
