// The debug access log: one line per request saying which side served it, under which rule and
// why, with the status and the time taken; streamed reads included.
import t from 'tap'
import { startPair } from '../helpers/upstream.ts'
import { writePolicy } from '../helpers/policy.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('every request, streamed reads included, is logged with the side, rule, reason, status and duration', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir }, 'debug')
  for (const [path, init] of [
    ['/api/v1/tenants/other/alert-rules/r1?cursor=abc', {}],
    ['/api/v1/tenants/acme/alert-rules', { method: 'HEAD' }],
    ['/api/v1/tenants/other/alert-rules/r1', { method: 'PUT', body: '{}' }],
  ] as const) {
    const res = await fetch(sidecar.proxyUrl + path, init)
    await res.arrayBuffer()
  }
  oldUp.behaviour = { status: 503 }
  await (await sidecar.get('/api/v1/tenants/other/alert-rules/r2')).arrayBuffer()
  const lines = await eventually(() => sidecar.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l['msg'] === 'request'), l => l.length === 4)
  t.match(lines, [
    { req: { method: 'GET', path: '/api/v1/tenants/other/alert-rules/r1' }, status: 200, ms: Number, servedBy: 'old', rule: 'default', reason: 'rule' },
    { req: { method: 'HEAD', path: '/api/v1/tenants/acme/alert-rules' }, status: 200, ms: Number, servedBy: 'new', rule: 'acme-on-new', reason: 'rule' },
    { req: { method: 'PUT', path: '/api/v1/tenants/other/alert-rules/r1' }, status: 200, ms: Number, servedBy: 'old', rule: 'default', reason: 'write' },
    { req: { method: 'GET', path: '/api/v1/tenants/other/alert-rules/r2' }, status: 200, ms: Number, servedBy: 'new', rule: 'default', reason: 'fallback' },
  ])
})
