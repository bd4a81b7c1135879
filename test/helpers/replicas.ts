// Two proxy replicas of one migration that share only Redis: B in this process, A a separate
// dualread process, over a pair of test upstreams serving alert rules.
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import type { Test } from 'tap'
import { startPair } from './upstream.ts'
import { redisMigration, REDIS_URL } from './redis.ts'
import { startProcess } from './process.ts'
import { startTestSidecar } from './sidecar.ts'
import { scratchDir } from './scratch-dir.ts'

/** `resource` goes under the alert-rule resource (e.g. a compare block); `rest` after it (rules, gates, sync). */
export async function startTwoReplicas(t: Test, policy: { resource?: string, rest: string }) {
  const migration = redisMigration(t)
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, `version: 1
migration: ${migration}
upstreams:
  old: { url: ${oldUp.url} }
  new: { url: ${newUp.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
${policy.resource ?? ''}
${policy.rest}
`)
  const b = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'b'), redisUrl: REDIS_URL })
  const a = startProcess(['proxy', '--policy', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir, 'a')], { REDIS_URL })
  t.teardown(() => a.kill())
  const { proxy, admin } = await a.listening
  return { migration, oldUp, newUp, dir, file, b, a: { proxyUrl: `http://${proxy}`, adminUrl: `http://${admin}` } }
}
