import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import { runCli } from '../helpers/cli.ts'
import { writePolicy } from '../helpers/policy.ts'
import { TestUpstream, startPair } from '../helpers/upstream.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { isLoopback } from '../../src/admin/server.ts'
import { startProxySidecar } from '../../src/sidecar/proxy-sidecar.ts'
import { buildProgram } from '../../src/cli/main.ts'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

async function upstreams(t: { teardown(fn: () => unknown): void }) {
  const { oldUp, newUp } = await startPair(t)
  return { oldUp, newUp, urls: { oldUrl: oldUp.url, newUrl: newUp.url } }
}

t.test('admin off loopback refuses to start without a token, and then requires it', async t => {
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const policyFile = writePolicy(dir, urls)
  const { log } = captureLog()
  await t.rejects(startProxySidecar({ policyFile, stateDir: dir, log, listen: '127.0.0.1:0', admin: '0.0.0.0:0' }), { message: /DUALREAD_ADMIN_TOKEN/ })

  const sidecar = await startTestSidecar(t, { policyFile, stateDir: dir, admin: '0.0.0.0:0', adminToken: 's3cret-admin' })
  const base = sidecar.adminUrl.replace('0.0.0.0', '127.0.0.1')
  for (const path of ['/status', '/metrics']) {
    t.equal((await fetch(base + path)).status, 401, `${path} without a token`)
    t.equal((await fetch(base + path, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${path} with a wrong token`)
    t.equal((await fetch(base + path, { headers: { authorization: 'Bearer s3cret-admin' } })).status, 200, `${path} with the token`)
  }
  t.equal((await fetch(base + '/healthz')).status, 200, 'probes need no token')
  t.equal((await fetch(base + '/readyz')).status, 200)
  const refused = await fetch(base + '/rollback', { method: 'POST', body: '{"all":true}' })
  t.equal(refused.status, 401, 'nor can a rollback be set without it')
  const out: string[] = []
  process.env['DUALREAD_ADMIN_TOKEN'] = 's3cret-admin'
  t.teardown(() => { delete process.env['DUALREAD_ADMIN_TOKEN'] })
  await buildProgram({ out: s => out.push(s), err: s => out.push(s) }).parseAsync(['node', 'dualread', 'rollback', '--admin', base, '--all'])
  t.match(out.join(''), /ok; overrides in force: all rules/, 'dualread rollback sends the token from DUALREAD_ADMIN_TOKEN')
})

t.test('on loopback the admin endpoints answer without a token', async t => {
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, urls), stateDir: dir })
  const health = await fetch(sidecar.adminUrl + '/healthz')
  t.same([health.status, await health.json()], [200, { ok: true }])
  const ready = await fetch(sidecar.adminUrl + '/readyz')
  t.match([ready.status, await ready.json()], [200, { ready: true, upstreams: { old: true, new: true } }])
  t.equal((await fetch(sidecar.adminUrl + '/nope')).status, 404)
  const bad = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: 'not json' })
  t.equal(bad.status, 400)
  const two = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: '{"all":true,"clear":true}' })
  t.match(await two.json(), { detail: /exactly one/ })
  const none = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: 'null' })
  t.match(await none.json(), { detail: /exactly one/ })
  const huge = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: JSON.stringify({ rule: 'x'.repeat(20_000) }) })
  t.same([huge.status, (await huge.json() as { detail: string }).detail.startsWith('expected a JSON body')], [400, true], 'an oversized body is refused, not buffered')
  const first = await (await fetch(sidecar.adminUrl + '/readyz')).json()
  t.same(await (await fetch(sidecar.adminUrl + '/readyz')).json(), first, 'readiness is cached briefly, so probes never storm the upstreams')
})

t.test('a client that hangs up mid-request does not take the admin server down', async t => {
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, urls), stateDir: dir })
  const { port } = new URL(sidecar.adminUrl)
  const socket = connect(Number(port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write('POST /rollback HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"rule":')
  await new Promise(r => setTimeout(r, 50))
  socket.destroy()
  await eventually(() => sidecar.logs.join(''), s => s.includes('admin request failed'))
  t.ok(sidecar.logs.some(l => l.includes('admin request failed')), 'the failure is logged')
  t.equal((await fetch(sidecar.adminUrl + '/healthz')).status, 200, 'and the server still answers')
})

t.test('readiness fails while no upstream answers', async t => {
  const { oldUp, newUp, urls } = await upstreams(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, urls), stateDir: dir })
  await oldUp.close()
  await newUp.close()
  const ready = await fetch(sidecar.adminUrl + '/readyz')
  t.match([ready.status, await ready.json()], [503, { ready: false, upstreams: { old: false, new: false } }])
})

t.test('credentials in request headers never reach the log output', async t => {
  const { oldUp, urls } = await upstreams(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, urls), stateDir: dir }, 'debug')
  const secrets = { authorization: 'Bearer tok-AUTH-123', cookie: 'session=COOKIE-456', 'x-api-key': 'KEY-789' }
  const res = await sidecar.get('/api/v1/tenants/other/alert-rules', secrets)
  await res.arrayBuffer()
  oldUp.behaviour = { status: 500 }
  await (await sidecar.get('/api/v1/tenants/other/alert-rules', secrets)).arrayBuffer()
  await (await fetch(sidecar.proxyUrl + '/api/v1/tenants/other/alert-rules/x', { method: 'PUT', headers: secrets, body: '{}' })).arrayBuffer()
  const output = await eventually(() => sidecar.logs.join(''), s => (s.match(/"msg":"request"/g) ?? []).length >= 3)
  t.match(output, /"msg":"request"/, 'requests are logged at debug level')
  t.match(output, /"authorization":"\[redacted\]"/)
  for (const secret of ['tok-AUTH-123', 'COOKIE-456', 'KEY-789']) t.notOk(output.includes(secret), `${secret} is not in the log`)
  t.equal(oldUp.received[0]!.headers.authorization, 'Bearer tok-AUTH-123', 'the upstream still gets the credentials')
})

t.test('a rollback through one replica is obeyed by another through Redis, and cleared the same way', async t => {
  const migration = redisMigration(t)
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    await redis.del(`${keyPrefix(migration)}overrides`)
    redis.disconnect()
  })
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const policyFile = writePolicy(dir, { ...urls, extra: `migration: ${migration}` })
  const a = await startTestSidecar(t, { policyFile, stateDir: dir, redisUrl: REDIS_URL })
  const b = await startTestSidecar(t, { policyFile, stateDir: dir, redisUrl: REDIS_URL })
  const acme = '/api/v1/tenants/acme/alert-rules/r1'
  const served = async (s: typeof a) => {
    const res = await s.get(acme)
    await res.arrayBuffer()
    return `${res.headers.get('x-dualread-served-by')}/${res.headers.get('x-dualread-reason')}`
  }
  t.equal(await served(b), 'new/rule')

  const out: string[] = []
  await buildProgram({ out: s => out.push(s), err: s => out.push(s) }).parseAsync(['node', 'dualread', 'rollback', '--admin', a.adminUrl, '--rule', 'acme-on-new', '--reason', 'drift on acme'])
  t.match(out.join(''), /ok; overrides in force: acme-on-new/)
  t.equal(await served(a), 'old/rollback', 'the replica that took the command obeys at once')
  t.equal(await eventually(() => served(b), v => v === 'old/rollback', 3000), 'old/rollback', 'the other replica obeys within a second or so')
  const status = await (await fetch(b.adminUrl + '/status')).json() as { overrides: { backend: string, entries: Record<string, { reason: string }> }, rules: Array<{ name: string, rolledBack: boolean }> }
  t.equal(status.overrides.backend, 'redis')
  t.equal(status.overrides.entries['acme-on-new']?.reason, 'drift on acme')
  t.same(status.rules.filter(r => r.rolledBack).map(r => r.name), ['acme-on-new'])

  await buildProgram({ out: s => out.push(s), err: s => out.push(s) }).parseAsync(['node', 'dualread', 'rollback', '--admin', b.adminUrl, '--clear'])
  t.equal(await eventually(() => served(a), v => v === 'new/rule', 3000), 'new/rule', 'clearing through the other replica restores routing everywhere')
})

t.test('rollback --all and its errors', async t => {
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, urls), stateDir: dir })
  const run = (...args: string[]) => runCli('rollback', ...args)
  t.match(await run('--admin', sidecar.adminUrl, '--all'), { out: /overrides in force: all rules/, code: 0 })
  const res = await sidecar.get('/api/v1/tenants/other/alert-rules')
  await res.arrayBuffer()
  t.same([res.headers.get('x-dualread-served-by'), res.headers.get('x-dualread-reason')], ['old', 'rollback'])
  t.match(await run('--admin', sidecar.adminUrl, '--rule', 'no-such-rule'), { out: /refused \(400\): no rule named "no-such-rule"; rules: acme-on-new, eu-canary, default/, code: 1 })
  t.match(await run('--admin', sidecar.adminUrl), { out: /exactly one of/, code: 1 })
  t.match(await run('--admin', 'http://127.0.0.1:1', '--all'), { out: /cannot reach the admin server/, code: 1 })
  t.match(await run('--admin', sidecar.adminUrl, '--rule', 'eu-canary'), { out: /overrides in force: \*?.*eu-canary/, code: 0 })
  t.match(await run('--admin', sidecar.adminUrl, '--clear'), { out: /overrides in force: none/, code: 0 })
})

t.test('only a loopback address or localhost skips the admin token: a host name that starts with "127." does not', async t => {
  const { urls } = await upstreams(t)
  const dir = scratchDir(t)
  const { log } = captureLog()
  await t.rejects(startProxySidecar({ policyFile: writePolicy(dir, urls), stateDir: dir, log, listen: '127.0.0.1:0', admin: '127.example.com:0' }), { message: /127\.example\.com, which is not loopback: set DUALREAD_ADMIN_TOKEN/ })
  for (const host of ['127.0.0.1', '127.255.0.9', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::ffff:7f00:1]']) t.ok(isLoopback(host), host)
  for (const host of ['127.example.com', '127.0.0.1.nip.io', '127.1', '0.0.0.0', '::', '', '10.0.0.1', '::ffff:10.0.0.1', 'localhost.example.com', '128.0.0.1']) t.notOk(isLoopback(host), host)
})
