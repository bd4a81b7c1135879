import { request, type IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import { stickyBucket } from '../../src/policy/choose.ts'
import { TestUpstream, startPair } from '../helpers/upstream.ts'
import { writePolicy } from '../helpers/policy.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('reads are routed by tenant, region and resource type', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir })

  // A tenant inside and one outside the sticky 50% share of eu-canary.
  const tenants = Array.from({ length: 200 }, (_, i) => `tenant-${i}`)
  const inside = tenants.find(x => stickyBucket(x) < 5000)!
  const outside = tenants.find(x => stickyBucket(x) >= 5000)!

  const table: Array<[string, Record<string, string>, string, string, string]> = [
    ['/api/v1/tenants/acme/alert-rules/r1', {}, 'new', 'acme-on-new', 'rule'],
    ['/api/v1/tenants/acme/alert-rules', {}, 'new', 'acme-on-new', 'rule'],
    ['/api/v1/teams/t1', { 'x-tenant-id': 'acme' }, 'old', 'default', 'rule'], // acme, but not an alert-rule
    ['/api/v1/tenants/other/alert-rules/r1', {}, 'old', 'default', 'rule'],
    [`/api/v1/tenants/${inside}/alert-rules/r1`, { 'x-region': 'eu-west-1' }, 'new', 'eu-canary', 'percent'],
    [`/api/v1/tenants/${outside}/alert-rules/r1`, { 'x-region': 'eu-west-1' }, 'old', 'eu-canary', 'rule'],
    [`/api/v1/tenants/${inside}/alert-rules/r1`, { 'x-region': 'us-east-1' }, 'old', 'default', 'rule'],
    ['/api/v1/tenants/acme/alert-rules/r1?cursor=abc', { 'x-region': 'eu-west-1' }, 'new', 'acme-on-new', 'rule'],
  ]
  for (const [path, headers, servedBy, rule, reason] of table) {
    const res = await sidecar.get(path, headers)
    const body = await res.json() as { served: string, url: string }
    t.equal(res.status, 200, path)
    t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-rule'), res.headers.get('x-dualread-reason')], [servedBy, rule, reason], `${path} ${JSON.stringify(headers)}`)
    t.equal(body.served, servedBy, `${path} really came from ${servedBy}`)
    t.equal(body.url, path, 'path and query reach the upstream unchanged')
  }
  // The same tenant keeps its side on every read.
  for (let i = 0; i < 5; i++) {
    const res = await sidecar.get(`/api/v1/tenants/${inside}/alert-rules`, { 'x-region': 'eu-west-1' })
    await res.arrayBuffer()
    t.equal(res.headers.get('x-dualread-served-by'), 'new')
  }
})

t.test('writes reach only the authority, and reads of that slice follow them there', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra: 'readYourWrites: { windowMs: 300 }' }), stateDir: dir })
  const item = '/api/v1/tenants/acme/alert-rules/r1'

  for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) {
    const res = await fetch(sidecar.proxyUrl + item, { method, body: method === 'DELETE' ? undefined : '{"threshold":5}', headers: { 'content-type': 'application/json' } })
    t.equal(res.status, 200, `${method} answered`)
    t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-rule'), res.headers.get('x-dualread-reason')], ['old', 'acme-on-new', 'write'])
    await res.arrayBuffer()
  }
  t.equal(newUp.writes().length, 0, 'the non-authority upstream received zero writes')
  t.same(oldUp.writes().map(w => [w.method, w.body]), [['PUT', '{"threshold":5}'], ['POST', '{"threshold":5}'], ['PATCH', '{"threshold":5}'], ['DELETE', '']])

  // acme's alert-rules are normally served by new; right after the write they come from old.
  let res = await sidecar.get(item)
  await res.arrayBuffer()
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-reason')], ['old', 'read-your-writes'])
  res = await sidecar.get('/api/v1/tenants/other/alert-rules/r1')
  await res.arrayBuffer()
  t.equal(res.headers.get('x-dualread-reason'), 'rule', 'another tenant is not affected')
  await new Promise(r => setTimeout(r, 350))
  res = await sidecar.get(item)
  await res.arrayBuffer()
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-reason')], ['new', 'rule'], 'after windowMs reads go back to the rule')

  // A write the authority refused does not pin reads.
  oldUp.behaviour = { status: 409 }
  res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r2', { method: 'PUT', body: '{}' })
  t.equal(res.status, 409)
  await res.arrayBuffer()
  oldUp.behaviour = {}
  res = await sidecar.get('/api/v1/tenants/acme/alert-rules/r2')
  await res.arrayBuffer()
  t.equal(res.headers.get('x-dualread-reason'), 'rule')
  t.equal(newUp.writes().length, 0)
})

t.test('paths that match no resource pass through to the authority', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: newUp.url, newUrl: oldUp.url, authority: 'new' }), stateDir: dir })
  // Here "old" in the policy points at the server named new and vice versa: the authority is the policy's `new`.
  const res = await sidecar.get('/api/v1/unknown/thing?x=1')
  t.same(await res.json(), { served: 'old', url: '/api/v1/unknown/thing?x=1' })
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-rule'), res.headers.get('x-dualread-reason')], ['new', '(none)', 'passthrough'])
  t.equal(newUp.received.length, 0)
})

t.test('an upstream URL with a path prefix keeps it, for reads and writes', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `${oldUp.url}/store-a/`, newUrl: `${newUp.url}/store-b` }), stateDir: dir })
  await (await sidecar.get('/api/v1/tenants/other/alert-rules/r1')).arrayBuffer()
  await (await sidecar.get('/api/v1/tenants/acme/alert-rules/r1')).arrayBuffer()
  await (await fetch(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules/r1', { method: 'PUT', body: '{}' })).arrayBuffer()
  t.same(oldUp.received.map(r => `${r.method} ${r.url}`), ['GET /store-a/api/v1/tenants/other/alert-rules/r1', 'PUT /store-a/api/v1/tenants/other/alert-rules/r1'])
  t.same(newUp.received.map(r => `${r.method} ${r.url}`), ['GET /store-b/api/v1/tenants/acme/alert-rules/r1'])
})

t.test('hop-by-hop headers stop at the proxy; forwarding and trace headers pass', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir })
  oldUp.behaviour = { headers: { 'x-upstream': 'yes', 'keep-alive': 'timeout=5', 'x-private-hop': 'drop me', connection: 'x-private-hop' } }
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  // fetch() owns the Connection header, so this request goes through node:http.
  const res = await rawGet(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules', { traceparent, 'x-forwarded-for': '10.0.0.9', 'x-custom-hop': '1', connection: 'keep-alive, x-custom-hop' })
  const seen = oldUp.reads().at(-1)!.headers
  t.equal(seen.traceparent, traceparent, 'W3C trace context passes through')
  t.equal(seen['x-forwarded-for'], '127.0.0.1', 'the client\'s own X-Forwarded-For is replaced (forwarded.trust is off by default)')
  t.equal(seen['x-forwarded-proto'], 'http')
  t.match(seen['x-forwarded-host'], /^127\.0\.0\.1:\d+$/)
  t.equal(seen['x-custom-hop'], undefined, 'headers named in Connection are not forwarded')
  t.equal(res.headers['x-upstream'], 'yes')
  t.equal(res.headers['x-private-hop'], undefined, 'upstream hop-by-hop headers do not reach the client')

  const head = await fetch(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules', { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.headers.get('x-dualread-served-by'), 'old')
  t.equal(oldUp.reads().at(-1)!.method, 'HEAD', 'HEAD stays HEAD')
})

function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number, headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    }).on('error', reject).end()
  })
}
