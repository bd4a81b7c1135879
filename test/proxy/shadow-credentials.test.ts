// Shadow reads with `shadow.credentials: upstream`: the client holds a token for the side that
// serves it, the other side wants its own. Real proxy, real HTTP servers that check tokens.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { KubeSecretVolume } from '../helpers/kube-secret.ts'
import { ShapeApi } from '../helpers/shape-api.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { runCli } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const ITEM = '/api/v1/tenants/acme/alert-rules/r1'

async function setup(t: { teardown(fn: () => unknown): void, testdir(): string }, credentials: 'client' | 'upstream', newHeaders: string, accepted = { new: 'Bearer new-upstream-token-1' }, dir = scratchDir(t)) {
  const old = await ShapeApi.start(t, { token: () => 'Bearer client-token-1' })
  const neu = await ShapeApi.start(t, { token: () => accepted.new })
  for (const api of [old, neu]) api.docs.set(ITEM, { id: 'r1', enabled: true })
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, `version: 1
upstreams:
  old: { url: ${old.url} }
  new:
    url: ${neu.url}
    headers: ${newHeaders}
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
rules:
  - name: default
    primary: old
    shadowPercent: 100
shadow: { recheckLagMs: 0, credentials: ${credentials} }
sync: { enabled: false }
`)
  const sidecar = await startTestSidecar(t, { policyFile, stateDir: dir, redisUrl: null }, 'debug')
  return { old, neu, sidecar, policyFile, accepted }
}

async function results(sidecar: TestSidecar, seen: number): Promise<Record<string, number>> {
  const read = async () => ((await (await fetch(`${sidecar.adminUrl}/status`)).json()) as { parity: Array<{ results: Record<string, number> }> }).parity[0]?.results
  return (await eventually(read, r => r !== undefined && Object.values(r).reduce((a, b) => a + b, 0) >= seen))!
}

t.test('with shadow.credentials: upstream, the shadow read carries the side\'s own token instead of the client\'s, and the two answers match', async t => {
  process.env['DR_TEST_NEW_TOKEN'] = 'new-upstream-token-1'
  t.teardown(() => { delete process.env['DR_TEST_NEW_TOKEN'] })
  const { old, neu, sidecar, policyFile } = await setup(t, 'upstream', '{ authorization: { env: DR_TEST_NEW_TOKEN, prefix: "Bearer " } }')
  const res = await sidecar.get(ITEM, { authorization: 'Bearer client-token-1', cookie: 'session=client-cookie-1', accept: 'application/json' })
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.match(await results(sidecar, 1), { match: 1, critical: 0, error: 0 })
  t.equal(old.seen[0]!.headers.authorization, 'Bearer client-token-1', 'the serving side got the client\'s own token')
  t.match(neu.seen[0]!.headers, { authorization: 'Bearer new-upstream-token-1', accept: 'application/json' }, 'the shadow side its own')
  t.notOk('cookie' in neu.seen[0]!.headers, 'the client\'s cookie stays with the client\'s side')

  const status = await (await fetch(`${sidecar.adminUrl}/status`)).text()
  t.match(JSON.parse(status), { upstreams: { new: { headers: { authorization: 'env DR_TEST_NEW_TOKEN, after "Bearer"' } }, old: { headers: {} } } }, '/status says where the headers come from')
  t.notMatch(status + sidecar.logs.join(''), /new-upstream-token-1/, 'neither /status nor any log line holds the token')

  const explained = await runCli('policy', 'explain', policyFile, '--path', ITEM)
  t.match(explained.out, '           shadow reads carry upstreams.new.headers instead of the client\'s credentials: authorization from env DR_TEST_NEW_TOKEN, after "Bearer"\n')
  t.notMatch(explained.out, /new-upstream-token-1/)
})

t.test('with the default shadow.credentials: client, the shadow side gets the client\'s token (and here refuses it: critical)', async t => {
  const { neu, sidecar } = await setup(t, 'client', '{ authorization: "Bearer new-upstream-token-1" }')
  await (await sidecar.get(ITEM, { authorization: 'Bearer client-token-1' })).arrayBuffer()
  t.match(await results(sidecar, 1), { critical: 1 })
  t.equal(neu.seen[0]!.headers.authorization, 'Bearer client-token-1')
})

t.test('a shadow read refused right after a Secret rotation reads the file again and compares with the new token', async t => {
  const dir = scratchDir(t)
  const volume = new KubeSecretVolume(join(dir, 'secret'), { token: 'shadow-token-1' })
  const accepted = { new: 'Bearer shadow-token-1' }
  const { neu, sidecar } = await setup(t, 'upstream', `{ authorization: { file: ${volume.path('token')}, prefix: "Bearer " } }`, accepted, dir)
  await (await sidecar.get(ITEM, { authorization: 'Bearer client-token-1' })).arrayBuffer()
  t.match(await results(sidecar, 1), { match: 1 })
  accepted.new = 'Bearer shadow-token-2'
  volume.rotate({ token: 'shadow-token-2' })
  await (await sidecar.get(ITEM, { authorization: 'Bearer client-token-1' })).arrayBuffer()
  t.match(await results(sidecar, 2), { match: 2, critical: 0 }, 'no spurious critical drift from the rotation')
  t.equal(neu.seen.at(-1)!.headers.authorization, 'Bearer shadow-token-2')
})
