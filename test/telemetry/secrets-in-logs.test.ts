// Secrets a client or an upstream sends must never reach a log line or a diff sample: the real
// sidecar logs through real pino into a captured stream, and /status is read as an operator would.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { refusedPort, startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const SECRETS = ['q-s3cret-1', 'xauth-s3cret-2', 'hdr-s3cret-3', 'body-s3cret-old', 'body-s3cret-new', 'tok-s3cret-6', 'sess-s3cret-7']

function policy(dir: string, oldUrl: string, newUrl: string): string {
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${oldUrl}, timeoutMs: 2000 }
  new: { url: ${newUrl}, timeoutMs: 2000 }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    compare: { critical: [/enabled] }
rules:
  - name: default
    primary: old
    shadowPercent: 100
    fallback: true
shadow: { recheckLagMs: 0 }
`)
  return file
}

function leaked(text: string): string[] {
  return SECRETS.filter(s => text.includes(s))
}

t.test('query strings, credential headers and credential-looking values never reach the logs or the samples', async t => {
  const { oldUp, newUp } = await startPair(t)
  oldUp.behaviour = { body: { id: 'r1', enabled: true, authHeader: 'Bearer body-s3cret-old', note: 'Token tok-s3cret-6' } }
  newUp.behaviour = { body: { id: 'r1', enabled: false, authHeader: 'Bearer body-s3cret-new', note: 'Token tok-s3cret-6-rotated' } }
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: policy(dir, oldUp.url, newUp.url), stateDir: dir }, 'debug')

  const res = await sidecar.get('/api/v1/tenants/acme/alert-rules/r1?access_token=q-s3cret-1', {
    'x-auth': 'xauth-s3cret-2', 'x-trace-note': 'Basic hdr-s3cret-3', 'x-session-id': 'sess-s3cret-7', accept: 'application/json',
  })
  t.equal(res.status, 200)
  await res.arrayBuffer()
  const status = await eventually(async () => await (await fetch(sidecar.adminUrl + '/status')).text(), s => s.includes('"critical"'))
  t.match(status, /"path": "\/api\/v1\/tenants\/acme\/alert-rules\/r1"/, 'the sample keeps the path')
  t.same(leaked(status), [], '/status (and so /ui) shows no secret')
  await eventually(() => sidecar.logs.join(''), l => l.includes('critical drift'))

  const logs = sidecar.logs.join('')
  t.same(leaked(logs), [], 'no log line holds a secret')
  const access = sidecar.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l['msg'] === 'request')!
  t.match(access, { req: { method: 'GET', path: '/api/v1/tenants/acme/alert-rules/r1', headers: { 'x-auth': '[redacted]', 'x-session-id': '[redacted]', accept: 'application/json' } } },
    'the access log keeps the path and the harmless headers')
  t.match(logs, /"path":"\/authHeader","old":"\[redacted:[0-9a-f]{8}\]"/, 'the drift warn line shows the credential as a hash')
})

t.test('a forwarded write to an unreachable authority is logged by its path, not its query string', async t => {
  const { newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: policy(dir, `http://127.0.0.1:${await refusedPort()}`, newUp.url), stateDir: dir })
  const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1?access_token=q-s3cret-1', { method: 'PUT', body: '{}' })
  t.equal(res.status, 502)
  await res.arrayBuffer()
  const line = sidecar.logs.find(l => l.includes('authority unreachable'))!
  t.match(JSON.parse(line), { method: 'PUT', path: '/api/v1/tenants/acme/alert-rules/r1' })
  t.same(leaked(line), [])
})
