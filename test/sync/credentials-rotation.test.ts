// A running `dualread sync` whose token lives in a Secret volume: the kubelet rotates it, the
// store stops taking the old one at once, and the sync goes on copying without an error.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { KubeSecretVolume } from '../helpers/kube-secret.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { ShapeApi, type ListRoute } from '../helpers/shape-api.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const LISTS: ListRoute[] = [{ path: /^\/api\/v1\/tenants\/([^/]+)\/rules$/, members: m => new RegExp(`^/api/v1/tenants/${m[1]}/rules/[^/]+$`), wrap: items => ({ items }) }]

t.test('the sync keeps working across a rotation of its token file', async t => {
  const accepted = { token: 'Bearer rotating-token-1' }
  const old = await ShapeApi.start(t, { lists: LISTS, token: () => accepted.token })
  const neu = await ShapeApi.start(t, { lists: LISTS })
  for (const api of [old, neu]) api.docs.set('/api/v1/tenants', { items: [{ id: 'acme' }] })
  old.docs.set('/api/v1/tenants/acme/rules/r1', { id: 'r1' })
  const dir = scratchDir(t)
  const volume = new KubeSecretVolume(join(dir, 'secret'), { token: 'rotating-token-1\n' })
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old:
    url: ${old.url}
    headers: { authorization: { file: ${volume.path('token')}, prefix: "Bearer " } }
  new: { url: ${neu.url} }
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
  fullScanIntervalSec: 1
  tenants: { list: /api/v1/tenants }
`)
  const { log, logs } = captureLog()
  const sync = await startSyncProcess({ policyFile: file, stateDir: dir, log, admin: '127.0.0.1:0' })
  t.teardown(() => sync.stop())
  t.ok(await eventually(() => neu.docs.has('/api/v1/tenants/acme/rules/r1'), Boolean, 10_000), 'copied with the first token')

  accepted.token = 'Bearer rotating-token-2'
  volume.rotate({ token: 'rotating-token-2\n' })
  old.docs.set('/api/v1/tenants/acme/rules/r2', { id: 'r2' })
  t.ok(await eventually(() => neu.docs.has('/api/v1/tenants/acme/rules/r2'), Boolean, 10_000), 'copied with the rotated token')
  await sync.stop()
  const warnings = logs.map(l => JSON.parse(l) as { level: number, msg: string }).filter(l => l.level >= 40)
  t.same(warnings, [], 'no error or warning on the way')
  t.notMatch(logs.join(''), /rotating-token/)
})
