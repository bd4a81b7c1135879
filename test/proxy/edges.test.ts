import { createServer, request } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import { ReadYourWrites } from '../../src/proxy/read-your-writes.ts'
import { writePolicy } from '../helpers/policy.ts'
import { dyingUpstream, refusedPort, TestUpstream } from '../helpers/upstream.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('a write to an unreachable authority is a clean 502, and the proxy keeps serving', async t => {
  const newUp = await TestUpstream.start('new')
  t.teardown(() => newUp.close())
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${await refusedPort()}`, newUrl: newUp.url }), stateDir: dir })
  const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
  t.equal(res.status, 502)
  t.match(await res.json(), { error: 'authority_unavailable' })
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-reason')], ['old', 'write'])
  t.equal(newUp.writes().length, 0, 'the write was not redirected to new')
  const read = await sidecar.get('/api/v1/tenants/other/alert-rules')
  t.equal(read.status, 200, 'reads still fall back to new')
  await read.arrayBuffer()
})

t.test('websocket upgrades are tunnelled to the authority', async t => {
  const sockets = new Set<Socket>()
  const authority = createServer()
  authority.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket)
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nx-seen-path: ' + req.url + '\r\n\r\n')
    socket.on('data', d => socket.write(`echo:${String(d)}`))
  })
  await new Promise<void>(r => authority.listen(0, '127.0.0.1', r))
  t.teardown(() => { for (const s of sockets) s.destroy(); authority.close() })
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${(authority.address() as AddressInfo).port}`, newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  const { headers, reply } = await new Promise<{ headers: Record<string, unknown>, reply: string }>((resolve, reject) => {
    const req = request(sidecar.proxyUrl + '/api/v1/stream', { headers: { connection: 'Upgrade', upgrade: 'websocket' } })
    req.on('upgrade', (res, socket) => {
      socket.once('data', d => { resolve({ headers: res.headers, reply: String(d) }); socket.destroy() })
      socket.write('ping')
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(headers['x-seen-path'], '/api/v1/stream')
  t.equal(reply, 'echo:ping')
})

t.test('a websocket upgrade to an unreachable authority closes the client socket', async t => {
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: `http://127.0.0.1:${await refusedPort()}`, newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  const outcome = await new Promise<string>(resolve => {
    const req = request(sidecar.proxyUrl + '/api/v1/stream', { headers: { connection: 'Upgrade', upgrade: 'websocket' } })
    req.on('upgrade', () => resolve('upgraded'))
    req.on('response', () => resolve('response'))
    req.on('error', err => resolve(`error: ${(err as NodeJS.ErrnoException).code}`))
    req.end()
  })
  t.equal(outcome, 'error: ECONNRESET', 'the client is disconnected rather than left hanging')
  t.ok(sidecar.logs.some(l => l.includes('authority unreachable for a forwarded request')))
})

t.test('an HTTP/1.0 client without a Connection header is served', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  const socket = connect(Number(new URL(sidecar.proxyUrl).port), '127.0.0.1')
  socket.write('GET /api/v1/tenants/other/alert-rules HTTP/1.0\r\n\r\n')
  let answer = ''
  for await (const chunk of socket) answer += String(chunk)
  t.match(answer, /^HTTP\/1\.1 200 OK/)
  t.match(answer, /x-dualread-served-by: old/)
  t.equal(oldUp.received[0]!.headers['x-forwarded-for'], '127.0.0.1')
})

t.test('an upstream that dies mid-body ends the client response instead of hanging', async t => {
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: await dyingUpstream(t), newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules')
  t.equal(res.status, 200)
  await t.rejects(res.text(), 'the truncated body is an error for the client, not a silent short answer')
  const again = await fetch(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules')
  t.equal(again.status, 200, 'the proxy keeps serving')
  await again.body?.cancel()
})

t.test('read-your-writes remembers a bounded number of slices and expires them', async t => {
  let now = 0
  const ryw = new ReadYourWrites(() => now)
  ryw.record(undefined, 'team', 100)
  t.equal(ryw.active(undefined, 'team'), true, 'a write without a tenant pins that resource type')
  t.equal(ryw.active('acme', 'team'), false)
  ryw.record('acme', 'alert-rule', 0)
  t.equal(ryw.active('acme', 'alert-rule'), false, 'a zero window records nothing')
  ryw.record('acme', 'alert-rule', 100)
  t.equal(ryw.active('acme', 'alert-rule'), true)
  t.equal(ryw.active('acme', 'team'), false)
  now = 100
  t.equal(ryw.active('acme', 'alert-rule'), false, 'expired at the end of the window')
  t.equal(ryw.active(undefined, 'team'), false)
  t.equal(ryw.size, 0, 'and forgotten')
  for (let i = 0; i <= 100_000; i++) ryw.record(`t${i}`, 'alert-rule', 1000)
  t.equal(ryw.size, 100_000, 'never more than 100,000 slices')
  t.equal(ryw.active('t0', 'alert-rule'), false, 'the oldest is dropped first')
  t.equal(ryw.active('t100000', 'alert-rule'), true)
})

t.test('an authority that dies mid-response to a write cuts the client off rather than hanging', async t => {
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: await dyingUpstream(t), newUrl: 'http://127.0.0.1:9' }), stateDir: dir })
  const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
  t.equal(res.status, 200)
  await t.rejects(res.text())
})


