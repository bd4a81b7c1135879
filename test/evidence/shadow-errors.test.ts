// Through a real sidecar: shadow pairs in which a side failed (a 5xx, an unreadable body, a
// timeout) and HEAD requests never make a slice ready; they are counted against the side.
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import t from 'tap'
import { startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

interface Status {
  rules: Array<{ readiness: string, readinessReason: string }>
  evidence: { slices: Array<{ window: { samples: number, errors: { old: number, new: number } } }> }
}

function policy(oldUrl: string, newUrl: string, fallback = true): string {
  return `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
rules:
  - name: default
    primary: old
    shadowPercent: 100
    fallback: ${fallback}
gates:
  rollbackOnCriticalDrift: { windowSec: 60, minSamples: 3 }
shadow: { timeoutMs: 200, recheckLagMs: 0 }
sync: { enabled: false }
`
}

const path = '/api/v1/tenants/acme/alert-rules/r1'

t.test('errors, 5xx, unreadable answers and HEADs are never samples: the slice stays inconclusive', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policy(oldUp.url, newUp.url))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir })
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

t.test('a primary 5xx answered to the client (no fallback) counts against its side, never as a sample', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policy(oldUp.url, newUp.url, false))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir })
  oldUp.behaviour = { body: { error: 'overloaded' }, status: () => 500 }
  newUp.behaviour = { body: { id: 'r1' } }
  t.equal((await fetch(`${sidecar.proxyUrl}${path}`).then(async r => { await r.arrayBuffer(); return r.status })), 500)
  const status = async () => (await (await fetch(`${sidecar.adminUrl}/status`)).json()) as Status
  const st = await eventually(status, s => (s.evidence.slices[0]?.window.errors.old ?? 0) === 1)
  t.match(st.evidence.slices[0]!.window, { samples: 0, errors: { old: 1, new: 0 } })
})
