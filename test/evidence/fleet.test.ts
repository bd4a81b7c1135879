// Evidence is the fleet's: two proxy processes sharing Redis add to the same buckets, each shows
// the sum, drift seen by one makes the other not ready, and a restarted replica still has it.
import { join } from 'node:path'
import t from 'tap'
import { REDIS_URL } from '../helpers/redis.ts'
import { startTwoReplicas } from '../helpers/replicas.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'

interface Status {
  rules: Array<{ name: string, readiness: string, readinessReason: string }>
  evidence: { store: string, replicas: number, slices: Array<{ resourceType: string, readiness: string, window: { samples: number, results: { match: number, critical: number } } }> }
}

const PATH = (id: string) => `/api/v1/tenants/acme/alert-rules/${id}`
const doc = (id: string, threshold = 5) => ({ id, version: 1, threshold })

t.test('two replicas add to one record: each shows the fleet\'s sum, and drift seen by one makes the other not ready', async t => {
  const { oldUp, newUp, dir, file, b, a } = await startTwoReplicas(t, {
    resource: '    compare: { critical: [/threshold] }',
    rest: `rules:
  - name: default
    primary: old
    shadowPercent: 100
gates:
  rollbackOnCriticalDrift: { threshold: 5, windowSec: 60, minSamples: 4 }
sync: { enabled: false }`,
  })
  // r-bad differs on new (a critical pointer); r-good matches.
  oldUp.behaviour = { body: (req: { url: string }) => doc(req.url.endsWith('r-bad') ? 'r-bad' : 'r-good') }
  newUp.behaviour = { body: (req: { url: string }) => doc(req.url.endsWith('r-bad') ? 'r-bad' : 'r-good', req.url.endsWith('r-bad') ? 9 : 5) }
  const readA = async (id: string) => (await fetch(`${a.proxyUrl}${PATH(id)}`)).arrayBuffer()
  const status = async (url: string) => (await (await fetch(`${url}/status`)).json()) as Status

  // Replica B only ever compares matching reads; replica A sees the drift.
  for (let i = 0; i < 4; i++) await (await b.get(PATH('r-good'))).arrayBuffer()
  await readA('r-bad')
  await readA('r-good')
  const fleet = await eventually(() => status(b.adminUrl), s => s.evidence.slices[0]?.window.samples === 6, 10_000)
  t.match(fleet.evidence, { store: 'redis', replicas: 2 }, 'both replicas added to the buckets B reads')
  t.match(fleet.evidence.slices[0]!.window.results, { match: 5, critical: 1 }, 'the sum of what each replica compared')
  t.equal(fleet.rules[0]!.readiness, 'not-ready', 'drift seen only through A makes B not ready')
  t.match(fleet.rules[0]!.readinessReason, /1 critical difference\(s\) in 60 s/)

  // A restarted replica reads the record back from Redis: nothing is forgotten.
  await b.stop()
  const again = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'b2'), redisUrl: REDIS_URL })
  const restarted = await eventually(() => status(again.adminUrl), s => s.evidence.slices[0]?.window.samples === 6, 10_000)
  t.equal(restarted.rules[0]!.readiness, 'not-ready', 'a restarted replica still shows the fleet\'s history')
})
