// `dualread report` shows each slice's three signals over time from the fleet's hourly buckets: a
// recorded run (three hours written to Redis as replicas write them) read back through a proxy's
// GET /evidence, per hour and per day, as Markdown and JSON.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { scratchDir } from '../helpers/scratch-dir.ts'
import t from 'tap'
import { addObservation, type Fields, type Observation } from '../../src/evidence/counts.ts'
import { RedisEvidenceStore } from '../../src/evidence/redis-store.ts'
import { HOUR_MS } from '../../src/evidence/store.ts'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import type { buildReport } from '../../src/cli/report.ts'
import { runCli } from '../helpers/cli.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { startTestSidecar } from '../helpers/sidecar.ts'
import { startPair } from '../helpers/upstream.ts'

const DAY_MS = 24 * HOUR_MS

function hourOf(observations: Array<[number, Observation]>): Fields {
  const fields: Fields = new Map()
  for (const [n, o] of observations) for (let i = 0; i < n; i++) addObservation(fields, o)
  return fields
}

t.test('a recorded run: the report shows match rate, error rates and p99 of each side per hour and per day', async t => {
  const migration = redisMigration(t, 'report')
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, `version: 1
migration: ${migration}
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
sync: { enabled: false }
`)
  // Yesterday's first three hours (UTC), as replicas recorded them: one day, three hours apart.
  const day = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS
  const slice = { rule: 'default', resourceType: 'alert-rule' }
  const match = (oldMs: number, newMs: number): Observation => ({ ...slice, outcome: 'match', latencyMs: { old: oldMs, new: newMs } })
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const store = new RedisEvidenceStore(redis, keyPrefix(migration))
  await store.add('replica-a', [
    { at: day + 1 * HOUR_MS, fields: hourOf([[10, match(10, 10)]]) },
    // Drift and a failing new side.
    { at: day + 2 * HOUR_MS, fields: hourOf([[8, match(10, 10)], [2, { ...slice, outcome: 'critical', latencyMs: { old: 10, new: 10 } }], [1, { ...slice, failed: ['new'], latencyMs: { old: 10 } }]]) },
    // New three times slower.
    { at: day + 3 * HOUR_MS, fields: hourOf([[10, match(10, 30)]]) },
  ], 30)
  const proxy = await startTestSidecar(t, { policyFile, stateDir: dir, redisUrl: REDIS_URL })
  const date = new Date(day).toISOString().slice(0, 10)

  const md = await runCli('report', '--admin', proxy.adminUrl)
  t.equal(md.code, 0, md.out)
  t.match(md.out, /## Signals over time\n\nPer hour from the fleet's hourly buckets/)
  t.match(md.out, /### default \/ alert-rule\n\n\| hour \| samples \| match rate \| errors old \/ new \| error increase \| p99 old \/ new \| p99 ratio \| gate trips \|/)
  t.match(md.out, new RegExp(`\\| ${date} 01:00Z \\| 10 \\| 100\\.0% \\| 0\\.0% / 0\\.0% \\| 0\\.0% \\| (\\d+\\.\\d) ms / \\1 ms \\| 1\\.00× \\| 0 \\|`), 'a clean hour: both sides alike')
  t.match(md.out, new RegExp(`\\| ${date} 02:00Z \\| 10 \\| 80\\.0% \\| 0\\.0% / 9\\.1% \\| 9\\.1% \\|`), 'the hour of drift: 2 critical of 10, new failed 1 of 11 reads')
  t.match(md.out, new RegExp(`\\| ${date} 03:00Z \\| 10 \\| 100\\.0% \\| 0\\.0% / 0\\.0% \\| 0\\.0% \\| \\d+\\.\\d ms / \\d+\\.\\d ms \\| 3\\.0\\d× \\|`), 'the slow hour: p99 new about 3× old')

  const json = JSON.parse((await runCli('report', '--admin', proxy.adminUrl, '--format', 'json')).out) as ReturnType<typeof buildReport>
  t.match(json.overTime, { step: 'hour', slices: [{ rule: 'default', resourceType: 'alert-rule', points: [{ samples: 10 }, { samples: 10 }, { samples: 10 }] }] })
  const points = 'slices' in json.overTime ? json.overTime.slices[0]!.points : []
  t.same(points.map(p => p.at), [1, 2, 3].map(h => new Date(day + h * HOUR_MS).toISOString()), 'one point per recorded hour, oldest first')
  t.match(points[1], { matchRate: 0.8, errors: { old: 0, new: 1 }, errorRate: { old: 0 }, gateTrips: 0 })
  t.ok(points[2]!.p99Ratio! > 2.9 && points[2]!.p99Ratio! < 3.1, `p99 ratio ${points[2]!.p99Ratio}`)

  const byDay = await runCli('report', '--admin', proxy.adminUrl, '--step', 'day')
  t.match(byDay.out, new RegExp(`\\| day \\| samples \\|[^\\n]*\\n[^\\n]*\\n\\| ${date} \\| 30 \\| 93\\.3% \\| 0\\.0% / 3\\.2% \\| 3\\.2% \\|`), 'the three hours as one day')
  await t.rejects(runCli('report', '--admin', proxy.adminUrl, '--step', 'week'), /argument 'week' is invalid\. Allowed choices are hour, day/)
  t.match(await (await fetch(`${proxy.adminUrl}/evidence?step=week`)).json(), { error: 'bad_request', detail: 'step must be hour or day' })
})
