// One header policy for every request the proxy forwards (reads, writes, passthrough): hop-by-hop
// headers stop at the proxy in both directions, and X-Forwarded-* / Forwarded follow `forwarded.trust`.
import t, { type Test } from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { rawRequest } from '../helpers/raw-http.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { startPair } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

async function setup(t: Test, extra = '') {
  const dir = scratchDir(t)
  const { oldUp, newUp } = await startPair(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra }), stateDir: dir })
  return { oldUp, newUp, sidecar }
}

/** One of each kind of request the proxy forwards, all served by old. */
const KINDS = [
  { kind: 'read', method: 'GET', path: '/api/v1/tenants/other/alert-rules/r1' },
  { kind: 'write', method: 'PUT', path: '/api/v1/tenants/acme/alert-rules/r1', body: '{"threshold":5}' },
  { kind: 'passthrough', method: 'POST', path: '/api/v1/unknown/thing', body: '{"x":1}' },
] as const

const HOP_BY_HOP_REQUEST = {
  connection: 'keep-alive, x-custom-hop',
  'x-custom-hop': '1',
  'keep-alive': 'timeout=5',
  'proxy-authorization': 'Basic c2VjcmV0',
  'proxy-connection': 'keep-alive',
  te: 'trailers',
  upgrade: 'h2c',
}

t.test('hop-by-hop headers stop at the proxy on reads, writes and passthrough, in both directions', async t => {
  const { oldUp, sidecar } = await setup(t)
  oldUp.behaviour = { headers: { 'x-upstream': 'yes', 'keep-alive': 'timeout=5', 'x-private-hop': 'drop me', connection: 'x-private-hop', 'proxy-authenticate': 'Basic' } }
  for (const k of KINDS) {
    const res = await rawRequest(sidecar.proxyUrl, { method: k.method, path: k.path, headers: { ...HOP_BY_HOP_REQUEST, 'x-end-to-end': 'kept' }, ...('body' in k ? { body: k.body, chunked: true, trailer: 'x-checksum' } : {}) })
    t.equal(res.headers['x-dualread-reason'], k.kind === 'read' ? 'rule' : k.kind)
    const seen = oldUp.received.at(-1)!
    for (const name of ['x-custom-hop', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      t.equal(seen.headers[name], undefined, `${k.kind}: ${name} does not reach the upstream`)
    }
    t.not(seen.headers.connection, 'keep-alive, x-custom-hop', `${k.kind}: the client's Connection is not forwarded`)
    t.equal(seen.headers['x-end-to-end'], 'kept', `${k.kind}: end-to-end headers pass`)
    if ('body' in k) t.equal(seen.body, k.body, `${k.kind}: a chunked body arrives whole`)
    t.equal(res.headers['x-upstream'], 'yes')
    for (const name of ['x-private-hop', 'proxy-authenticate']) {
      t.equal(res.headers[name], undefined, `${k.kind}: the upstream's ${name} does not reach the client`)
    }
    t.not(res.headers['keep-alive'], 'timeout=5', `${k.kind}: the upstream's Keep-Alive does not reach the client (the proxy's own may)`)
  }
})

t.test('a client that asks to close the connection is told it will be closed, on writes and passthrough too', async t => {
  const { oldUp, sidecar } = await setup(t)
  oldUp.behaviour = { headers: { connection: 'keep-alive' } }
  for (const k of KINDS) {
    const res = await rawRequest(sidecar.proxyUrl, { method: k.method, path: k.path, headers: { connection: 'close' }, ...('body' in k ? { body: k.body } : {}) })
    t.equal(res.headers.connection, 'close', k.kind)
    t.not(oldUp.received.at(-1)!.headers.connection, 'close', `${k.kind}: the client's Connection: close is not forwarded (the upstream connection stays pooled)`)
  }
})

t.test('a websocket upgrade still carries Connection: upgrade and Upgrade, but not the other hop-by-hop headers', async t => {
  const { createServer, request } = await import('node:http')
  const seen: Array<Record<string, unknown>> = []
  const authority = createServer()
  authority.on('upgrade', (req, socket) => {
    seen.push(req.headers)
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  })
  await new Promise<void>(r => authority.listen(0, '127.0.0.1', r))
  t.teardown(() => authority.close())
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${(authority.address() as import('node:net').AddressInfo).port}`, newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  await new Promise<void>((resolve, reject) => {
    const req = request(sidecar.proxyUrl + '/api/v1/stream', { headers: { connection: 'Upgrade, x-custom-hop', upgrade: 'websocket', 'x-custom-hop': '1', 'proxy-authorization': 'Basic c2VjcmV0', 'x-forwarded-for': '10.9.9.9' } })
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve() })
    req.on('error', reject)
    req.end()
  })
  t.match(seen[0], { connection: /upgrade/i, upgrade: 'websocket', 'x-forwarded-for': '127.0.0.1' })
  t.equal(seen[0]!['x-custom-hop'], undefined)
  t.equal(seen[0]!['proxy-authorization'], undefined)
})

const CLIENT_FORWARDING = { 'x-forwarded-for': '10.0.0.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-port': '1', forwarded: 'for=10.0.0.9;proto=https' }

t.test('by default the client\'s forwarding headers are replaced by the proxy\'s own, on every kind of request', async t => {
  const { oldUp, sidecar } = await setup(t)
  for (const k of KINDS) {
    await rawRequest(sidecar.proxyUrl, { method: k.method, path: k.path, headers: CLIENT_FORWARDING, ...('body' in k ? { body: k.body } : {}) })
    const seen = oldUp.received.at(-1)!.headers
    t.equal(seen['x-forwarded-for'], '127.0.0.1', `${k.kind}: the client's X-Forwarded-For is not trusted`)
    t.equal(seen['x-forwarded-proto'], 'http', k.kind)
    t.equal(seen['x-forwarded-host'], new URL(sidecar.proxyUrl).host, k.kind)
    t.equal(seen['x-forwarded-port'], undefined, k.kind)
    t.equal(seen['forwarded'], undefined, k.kind)
  }
})

t.test('with forwarded.trust the proxy appends itself to the client\'s forwarding headers, on every kind of request', async t => {
  const { oldUp, sidecar } = await setup(t, 'forwarded: { trust: true }')
  const host = new URL(sidecar.proxyUrl).host
  for (const k of KINDS) {
    await rawRequest(sidecar.proxyUrl, { method: k.method, path: k.path, headers: CLIENT_FORWARDING, ...('body' in k ? { body: k.body } : {}) })
    const seen = oldUp.received.at(-1)!.headers
    t.equal(seen['x-forwarded-for'], '10.0.0.9, 127.0.0.1', k.kind)
    t.equal(seen['x-forwarded-proto'], 'https', `${k.kind}: the original scheme is kept`)
    t.equal(seen['x-forwarded-host'], 'evil.example', `${k.kind}: the original host is kept`)
    t.equal(seen['x-forwarded-port'], '1', k.kind)
    t.equal(seen['forwarded'], `for=10.0.0.9;proto=https, for=127.0.0.1;proto=http;host="${host}"`, k.kind)
  }
  await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/other/alert-rules/r1' })
  const bare = oldUp.received.at(-1)!.headers
  t.same([bare['x-forwarded-for'], bare['x-forwarded-proto'], bare['x-forwarded-host'], bare['forwarded']], ['127.0.0.1', 'http', host, undefined], 'without client headers the proxy\'s own are sent')
})

t.test('Expect: 100-continue is answered by the proxy, not forwarded: a read that carries it is served, not failed', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const read = await rawRequest(sidecar.proxyUrl, { path: '/api/v1/tenants/other/alert-rules/r1', headers: { expect: '100-continue' } })
  t.equal(read.status, 200)
  t.same([read.headers['x-dualread-served-by'], read.headers['x-dualread-reason']], ['old', 'rule'], 'no fallback: the serving side did not fail')
  const write = await rawRequest(sidecar.proxyUrl, { method: 'PUT', path: '/api/v1/tenants/acme/alert-rules/r1', headers: { expect: '100-continue' }, body: '{"a":1}' })
  t.equal(write.status, 200)
  t.same(oldUp.received.map(r => [r.method, r.headers.expect, r.body]), [['GET', undefined, ''], ['PUT', undefined, '{"a":1}']])
  t.equal(newUp.received.length, 0)
})
