import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { startProcess } from '../helpers/process.ts'
import { TestUpstream, startPair } from '../helpers/upstream.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('SIGTERM stops accepting, lets in-flight reads finish, and exits 0', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const p = startProcess(['proxy', '--policy', writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir])
  t.teardown(() => p.kill())
  const { proxy } = await p.listening
  oldUp.behaviour = { delayMs: 500 }
  const inFlight = fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`)
  while (oldUp.received.length === 0) await new Promise(r => setTimeout(r, 10))
  p.child.kill('SIGTERM')
  const res = await inFlight
  t.equal(res.status, 200, 'the in-flight read was answered')
  t.match(await res.json(), { served: 'old' })
  const [code] = await p.exited
  t.equal(code, 0, 'exit code 0')
  t.match(p.output().stdout, /dualread proxy stopped/)
  await t.rejects(fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`), 'no longer accepting')
})

t.test('a second SIGTERM while draining exits at once with 1', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const p = startProcess(['proxy', '--policy', writePolicy(dir, { oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9' }), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir])
  t.teardown(() => p.kill())
  const { proxy } = await p.listening
  oldUp.behaviour = { delayMs: 3000 }
  const inFlight = fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`).catch(() => 'cut off')
  while (oldUp.received.length === 0) await new Promise(r => setTimeout(r, 10))
  p.child.kill('SIGTERM')
  await new Promise(r => setTimeout(r, 100))
  p.child.kill('SIGTERM')
  const [code] = await p.exited
  t.equal(code, 1)
  t.equal(await inFlight, 'cut off')
})

t.test('a broken policy at start is a clear error and exit 1', async t => {
  const dir = scratchDir(t, { 'policy.yaml': 'version: 1\nauthority: sideways\n' })
  const p = startProcess(['proxy', '--policy', join(dir, 'policy.yaml'), '--state-dir', dir])
  const [code] = await p.exited
  t.equal(code, 1)
  t.match(p.output().stderr, /no valid policy/)
  t.match(p.output().stderr, /policy\.yaml:2:\d+ error authority: "sideways" is not allowed/)
})

t.test('admin bound off loopback without a token is refused at start', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const p = startProcess(['proxy', '--policy', writePolicy(dir, { oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9' }), '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--state-dir', dir], { DUALREAD_ADMIN_TOKEN: '' })
  const [code] = await p.exited
  t.equal(code, 1)
  t.match(p.output().stderr, /not loopback: set DUALREAD_ADMIN_TOKEN/)
})

t.test('a proxy port already in use is a clear error and exit 1', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const p = startProcess(['proxy', '--policy', writePolicy(dir, { oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9' }), '--listen', `127.0.0.1:${oldUp.port}`, '--admin', '127.0.0.1:0', '--state-dir', dir])
  const [code] = await p.exited
  t.equal(code, 1)
  t.match(p.output().stderr, /dualread proxy failed to start: listen EADDRINUSE/)
})

t.test('https upstreams with a private CA work through NODE_EXTRA_CA_CERTS, for reads and writes', async t => {
  const dir = scratchDir(t)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const seen: string[] = []
  const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    seen.push(`${req.method} ${req.url}`)
    req.resume()
    res.end('{"served":"tls"}')
  })
  await new Promise<void>(r => tls.listen(0, '127.0.0.1', r))
  t.teardown(() => { tls.closeAllConnections(); tls.close() })
  const policy = writePolicy(dir, { oldUrl: `https://127.0.0.1:${(tls.address() as AddressInfo).port}`, newUrl: 'http://127.0.0.1:9' })
  const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', dir], { NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') })
  t.teardown(() => p.kill())
  const { proxy } = await p.listening
  t.same(await (await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules`)).json(), { served: 'tls' })
  t.same(await (await fetch(`http://${proxy}/api/v1/tenants/other/alert-rules/r1`, { method: 'PUT', body: '{}' })).json(), { served: 'tls' })
  t.same(seen, ['GET /api/v1/tenants/other/alert-rules', 'PUT /api/v1/tenants/other/alert-rules/r1'])
  p.child.kill('SIGTERM')
  t.equal((await p.exited)[0], 0)
})

/** A port that was free a moment ago (bound on :0 and closed), for a process that must be told its port up front. */
async function freePort(): Promise<number> {
  const s = createNetServer()
  await new Promise<void>(r => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise(r => s.close(r))
  return port
}

/** Resolves to the exit code, or to 'still running' when the process is still up after `ms`. */
async function exitCodeWithin(p: ReturnType<typeof startProcess>, ms = 15_000): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>(r => { timer = setTimeout(() => r('still running'), ms) })
  const code = await Promise.race([p.exited.then(([c]) => c), late])
  clearTimeout(timer)
  return code
}

t.test('a proxy whose admin port is taken says it failed, exits 1 and no longer serves its proxy port', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const proxyPort = await freePort()
  const p = startProcess(['proxy', '--policy', writePolicy(dir, { oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9' }), '--listen', `127.0.0.1:${proxyPort}`, '--admin', `127.0.0.1:${oldUp.port}`, '--state-dir', dir])
  t.teardown(() => p.kill())
  t.equal(await exitCodeWithin(p), 1, 'it exits with 1')
  t.match(p.output().stderr, /dualread proxy failed to start: listen EADDRINUSE.*:\d+/)
  await t.rejects(fetch(`http://127.0.0.1:${proxyPort}/api/v1/tenants/other/alert-rules/r1`), 'the proxy port no longer accepts connections')
  t.equal(oldUp.received.length, 0, 'nothing was proxied')
})

t.test('a proxy refused at start with Redis configured exits 1 instead of lingering on its connections', async t => {
  const dir = scratchDir(t)
  const policy = writePolicy(dir, { oldUrl: 'http://127.0.0.1:8', newUrl: 'http://127.0.0.1:9', extra: `migration: ${redisMigration(t)}` })
  const p = startProcess(['proxy', '--policy', policy, '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--state-dir', dir],
    { DUALREAD_ADMIN_TOKEN: '', REDIS_URL })
  t.teardown(() => p.kill())
  t.equal(await exitCodeWithin(p), 1)
  t.match(p.output().stderr, /not loopback: set DUALREAD_ADMIN_TOKEN/)
})
