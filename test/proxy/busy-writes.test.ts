// Writes when every write connection to the authority is busy: a bounded wait, then 503 with
// Retry-After; never sent to the other side, never sent late for a client that left.
import { createServer, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { TestUpstream } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const ITEM = '/api/v1/tenants/other/alert-rules/'

/** An authority that answers writes only when the test says so. */
async function heldAuthority(t: Test) {
  const writes: string[] = []
  const held: ServerResponse[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      writes.push(req.url!)
      held.push(res)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    writes,
    /** Answers the oldest held write. */
    answer() { held.shift()!.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}') },
  }
}

async function setup(t: Test, upstreamKeys: string) {
  const authority = await heldAuthority(t)
  const newUp = await TestUpstream.start('new')
  t.teardown(() => newUp.close())
  const dir = scratchDir(t)
  const policyFile = writePolicy(dir, { oldUrl: authority.url, newUrl: newUp.url, timeoutMs: 60_000, upstreamKeys: { old: upstreamKeys } })
  const sidecar = await startTestSidecar(t, { policyFile, stateDir: dir, drainTimeoutMs: 100 })
  const put = (id: string) => fetch(sidecar.proxyUrl + ITEM + id, { method: 'PUT', body: '{"name":"x"}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(15_000) })
  const writesStatus = async () => (await (await fetch(sidecar.adminUrl + '/status')).json() as { upstreams: { old: { connections: { writes: { inUse: number, waiting: number } } } } }).upstreams.old.connections.writes
  return { authority, newUp, sidecar, put, writesStatus }
}

t.test('a write that finds every write connection busy past queueTimeoutMs gets 503 with Retry-After, and goes nowhere', async t => {
  const { authority, newUp, sidecar, put } = await setup(t, 'connections: { writes: 1 }, queueTimeoutMs: 100')
  const first = put('a')
  await eventually(() => authority.writes.length, n => n === 1)

  const refused = await put('b')
  t.equal(refused.status, 503)
  t.equal(refused.headers.get('retry-after'), '1')
  t.same([refused.headers.get('x-dualread-served-by'), refused.headers.get('x-dualread-reason')], ['old', 'write'])
  t.same(await refused.json(), { error: 'authority_unavailable', detail: 'the old upstream had all 1 write connections busy for 100 ms; the write was not applied' })
  t.same(authority.writes, [ITEM + 'a'], 'the refused write never reached the authority')
  t.equal(newUp.writes().length, 0, 'nor the other side')

  authority.answer()
  t.equal((await first).status, 200)
  const next = put('c')
  await eventually(() => authority.writes.length, n => n === 2)
  authority.answer()
  t.equal((await next).status, 200, 'the connection was given back when the first write finished')
  const metrics = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  t.match(metrics, /dualread_upstream_queue_timeouts_total\{upstream="old",pool="writes"\} 1/)
  t.match(metrics, /dualread_requests_total\{rule="default",resource_type="alert-rule",served_by="old",reason="write",status_class="5xx"\} 1/)
})

t.test('a write whose client leaves while it waits for a connection is never sent', async t => {
  const { authority, sidecar, put, writesStatus } = await setup(t, 'connections: { writes: 1 }, queueTimeoutMs: 30000')
  const first = put('a')
  await eventually(() => authority.writes.length, n => n === 1)
  const { hostname, port } = new URL(sidecar.proxyUrl)
  const leaving = request({ hostname, port, method: 'PUT', path: ITEM + 'b', headers: { 'content-type': 'application/json' } })
  leaving.on('error', () => undefined)
  leaving.end('{"name":"x"}')
  t.match(await eventually(writesStatus, w => w.waiting === 1), { inUse: 1, waiting: 1 }, 'the second write waits for the only connection')
  leaving.destroy()
  t.match(await eventually(writesStatus, w => w.waiting === 0), { inUse: 1, waiting: 0 }, 'and stops waiting when its client hangs up')

  authority.answer()
  t.equal((await first).status, 200)
  const next = put('c')
  await eventually(() => authority.writes.length, n => n === 2)
  authority.answer()
  t.equal((await next).status, 200)
  t.same(authority.writes, [ITEM + 'a', ITEM + 'c'], 'the abandoned write was never forwarded')
  t.match(await eventually(writesStatus, w => w.inUse === 0), { inUse: 0, waiting: 0 }, 'its connection is back')
})
