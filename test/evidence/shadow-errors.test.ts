// Through a real sidecar: shadow pairs in which a side failed (a 5xx, an unreadable body, a
// timeout) and HEAD requests never make a slice ready; they are counted against the side.
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'

interface Status {
  rules: Array<{ readiness: string, readinessReason: string }>
  evidence: { slices: Array<{ window: { samples: number, errors: { old: number, new: number } } }> }
}

t.test('errors, 5xx, unreadable answers and HEADs are never samples: the slice stays inconclusive', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = t.testdir()
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
upstreams:
  old: { url: ${oldUp.url} }
  new: { url: ${newUp.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
rules:
  - name: default
    primary: old
    shadowPercent: 100
gates:
  rollbackOnCriticalDrift: { windowSec: 60, minSamples: 3 }
shadow: { timeoutMs: 200, recheckLagMs: 0 }
sync: { enabled: false }
`)
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir })
  const path = '/api/v1/tenants/acme/alert-rules/r1'
  const read = async (method = 'GET') => (await fetch(`${sidecar.proxyUrl}${path}`, { method })).arrayBuffer()
  oldUp.behaviour = { body: { id: 'r1' } }
  // New answers 503, then a body that is not JSON, then a 200 that is not JSON either.
  newUp.behaviour = { body: (_req: unknown, n: number) => n === 0 ? { error: 'down' } : '<html>oops</html>', status: n => n === 0 ? 503 : 200 }
  await read()
  await read()
  await read()
  await read('HEAD')
  await read('HEAD')
  const status = async () => (await (await fetch(`${sidecar.adminUrl}/status`)).json()) as Status
  const st = await eventually(status, s => (s.evidence.slices[0]?.window.errors.new ?? 0) === 3)
  t.match(st.evidence.slices[0]!.window, { samples: 0, errors: { old: 0, new: 3 } }, 'three failed pairs, counted against new; the HEADs not at all')
  t.equal(st.rules[0]!.readiness, 'inconclusive')
  t.match(st.rules[0]!.readinessReason, /0 of 3 comparisons needed/)
})
