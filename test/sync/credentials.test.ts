// The sync's credentials against real HTTP servers that insist on a bearer token: from the
// environment, from a Secret volume the kubelet rotates, and refused (a clear error, not a crash).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { RestAdapter } from '../../src/sync/adapter.ts'
import { SyncLoop } from '../../src/sync/loop.ts'
import { openStateStore } from '../../src/state/open.ts'
import { SyncProgress } from '../../src/sync/progress.ts'
import { Throttle } from '../../src/sync/throttle.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { runCli } from '../helpers/cli.ts'
import { KubeSecretVolume } from '../helpers/kube-secret.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { ShapeApi, type ListRoute } from '../helpers/shape-api.ts'
import { TestUpstream } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const LISTS: ListRoute[] = [{ path: /^\/api\/v1\/tenants\/([^/]+)\/rules$/, members: m => new RegExp(`^/api/v1/tenants/${m[1]}/rules/[^/]+$`), wrap: items => ({ items }) }]

interface Teardown { teardown(fn: () => unknown): void }

/** Two stores, each accepting one bearer token at a time (changed with `accept`). */
async function stores(t: Teardown, tokens: { old: string, new: string }) {
  const accepted = { ...tokens }
  const old = await ShapeApi.start(t, { lists: LISTS, token: () => `Bearer ${accepted.old}` })
  const neu = await ShapeApi.start(t, { lists: LISTS, token: () => `Bearer ${accepted.new}` })
  for (const api of [old, neu]) api.docs.set('/api/v1/tenants', { items: [{ id: 'acme' }] })
  old.docs.set('/api/v1/tenants/acme/rules/r1', { id: 'r1', enabled: true })
  return { old, neu, accepted }
}

function policy(dir: string, oldUrl: string, newUrl: string, headers: { old: string, new: string }, extra = ''): string {
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old:
    url: ${oldUrl}
    headers: ${headers.old}
  new:
    url: ${newUrl}
    headers: ${headers.new}
authority: old
resources:
  - type: rule
    collection: /api/v1/tenants/:tenant/rules
    item: /api/v1/tenants/:tenant/rules/:id
rules:
  - name: default
    primary: old
sync:
  state: file:${join(dir, 'state')}
  tenants: { list: /api/v1/tenants }
${extra}`)
  return file
}

t.test('the sync sends each side\'s headers from the environment on every call', async t => {
  const { old, neu } = await stores(t, { old: 'old-env-token-1', new: 'new-env-token-1' })
  process.env['DR_TEST_OLD_TOKEN'] = 'old-env-token-1'
  process.env['DR_TEST_NEW_TOKEN'] = 'new-env-token-1'
  t.teardown(() => { delete process.env['DR_TEST_OLD_TOKEN']; delete process.env['DR_TEST_NEW_TOKEN'] })
  const dir = scratchDir(t)
  const file = policy(dir, old.url, neu.url, { old: '{ authorization: { env: DR_TEST_OLD_TOKEN, prefix: "Bearer " } }', new: '{ authorization: { env: DR_TEST_NEW_TOKEN, prefix: "Bearer " } }' })
  const { log, logs } = captureLog('debug')
  t.match(await syncOnce({ policyFile: file, stateDir: dir, log }), { converged: true, upserted: 1 })
  t.same(neu.docs.get('/api/v1/tenants/acme/rules/r1'), { id: 'r1', enabled: true })
  t.ok(old.seen.length > 1 && old.seen.every(s => s.headers.authorization === 'Bearer old-env-token-1'), 'every call to old carried its token')
  t.ok(neu.seen.length > 1 && neu.seen.every(s => s.headers.authorization === 'Bearer new-env-token-1'), 'every call to new carried its own')
  t.notMatch(logs.join(''), /env-token-1/, 'no log line holds a token')
})

t.test('a wrong token is a clear 401 error that names the key to check, with the token masked even where the API echoes it', async t => {
  const { old, neu } = await stores(t, { old: 'the-right-token-1', new: 'new-token-1' })
  process.env['DR_TEST_OLD_TOKEN'] = 'a-wrong-token-1'
  t.teardown(() => { delete process.env['DR_TEST_OLD_TOKEN'] })
  const dir = scratchDir(t)
  const file = policy(dir, old.url, neu.url, { old: '{ authorization: { env: DR_TEST_OLD_TOKEN, prefix: "Bearer " } }', new: '{ authorization: "Bearer new-token-1" }' })
  process.env['LOG_LEVEL'] = 'silent'
  t.teardown(() => { delete process.env['LOG_LEVEL'] })
  const run = await runCli('sync', '--policy', file, '--once')
  t.equal(run.code, 1)
  t.match(run.out, /^dualread sync failed: 401 from old: check upstreams\.old\.headers \(the sync sent authorization from env DR_TEST_OLD_TOKEN, after "Bearer"; GET \/api\/v1\/tenants answered: .*refused: Bearer \[redacted\].*\)\n$/)
  t.notMatch(run.out, /a-wrong-token-1|new-token-1/, 'neither token shows')
  t.same(neu.writes(), [], 'nothing was written')
})

t.test('a side without headers that the store refuses says the sync sends none', async t => {
  const { old, neu } = await stores(t, { old: 'x', new: 'y' })
  const dir = scratchDir(t)
  const { log } = captureLog()
  const err = await syncOnce({ policyFile: policy(dir, old.url, neu.url, { old: '{}', new: '{}' }), stateDir: dir, log }).catch((e: Error) => e)
  t.match(err, { name: 'CredentialsRefused', status: 401, message: /^401 from old: check upstreams\.old\.headers \(the sync sends no credentials to it; GET \/api\/v1\/tenants answered/ })
})

t.test('a 403 without a body says so', async t => {
  const old = await TestUpstream.start('old')
  t.teardown(() => old.close())
  old.behaviour = { status: 403, body: '' }
  const dir = scratchDir(t)
  const { log } = captureLog()
  const err = await syncOnce({ policyFile: policy(dir, old.url, 'http://127.0.0.1:1', { old: '{ x-api-key: "wrong-key-0001" }', new: '{}' }), stateDir: dir, log }).catch((e: Error) => e)
  t.match(err, { status: 403, message: '403 from old: check upstreams.old.headers (the sync sent x-api-key from the policy (literal); GET /api/v1/tenants answered: no body)' })
})

t.test('a variable that is not set is a clear error naming the key, not a crash', async t => {
  const { old, neu } = await stores(t, { old: 'x', new: 'y' })
  const dir = scratchDir(t)
  const { log } = captureLog()
  const err = await syncOnce({ policyFile: policy(dir, old.url, neu.url, { old: '{ authorization: { env: DR_TEST_NEVER_SET } }', new: '{}' }), stateDir: dir, log }).catch((e: Error) => e)
  t.match(err, { name: 'CredentialError', message: 'upstreams.old.headers.authorization: the environment variable DR_TEST_NEVER_SET is not set' })
  t.same(old.seen, [], 'nothing was sent without it')
})

t.test('a token rotated in a Secret volume while the sync runs: refused once, read again, and the sync goes on', async t => {
  const { old, neu, accepted } = await stores(t, { old: 'old-file-token-1', new: 'new-token-1' })
  const dir = scratchDir(t)
  const volume = new KubeSecretVolume(join(dir, 'secret'), { token: 'old-file-token-1\n' })
  const parsed = parsePolicy(readFileSync(policy(dir, old.url, neu.url, { old: `{ authorization: { file: ${volume.path('token')}, prefix: "Bearer " } }`, new: '{ authorization: "Bearer new-token-1" }' }), 'utf8'), 'policy.yaml')
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  // A clock that never moves: the file is never rechecked on a timer, only when refused.
  const still = { credentials: { now: () => 0 } }
  const adapters = {
    old: new RestAdapter('old', parsed.policy, new Throttle(1000), metrics, still),
    new: new RestAdapter('new', parsed.policy, new Throttle(1000), metrics, still),
  }
  const loop = new SyncLoop({ compiled: compilePolicy(parsed.policy, parsed.hash), state, log, metrics, progress: new SyncProgress({ log, metrics }), adapters })
  t.teardown(() => loop.stop())

  t.match(await loop.runOnce(1000), { upserted: 1, errors: 0, differences: 0 })
  // The credential is rotated: old takes only the new token, the kubelet swaps ..data.
  accepted.old = 'old-file-token-2'
  volume.rotate({ token: 'old-file-token-2\n' })
  old.docs.set('/api/v1/tenants/acme/rules/r2', { id: 'r2', enabled: false })
  old.seen.length = 0

  t.match(await loop.runOnce(1000), { upserted: 1, errors: 0, differences: 0 }, 'the pass after the rotation completes')
  t.same(neu.docs.get('/api/v1/tenants/acme/rules/r2'), { id: 'r2', enabled: false })
  t.same(old.seen.map(s => s.headers.authorization), ['Bearer old-file-token-1', ...old.seen.slice(1).map(() => 'Bearer old-file-token-2')], 'one call with the old token, refused; every call after with the new one')
  t.ok(old.seen.length > 2)
  t.notMatch(logs.join(''), /old-file-token/, 'no log line holds either token')
})
