// The sync and references, against two real reference APIs: a pass writes parents before the
// children that name them and deletes children before their parents (the order the target store
// saw), and `dualread sync --once` names the dangling references on either side and exits 1.
import { writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startReferenceApi, type ReferenceApi } from '../../src/reference/index.ts'
import { runCli } from '../helpers/cli.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const TENANT = 'acme'

async function setup(t: Test, o: { parentsSynced?: boolean } = {}) {
  const writes: string[] = []
  const old = await startReferenceApi()
  const neu = await startReferenceApi({
    onRequest: (req: IncomingMessage) => { if (req.method !== 'GET') writes.push(`${req.method} ${req.url!.replace(/^\/api\/v1\/tenants\/acme\//, '')}`) },
  })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  for (const api of [old, neu]) api.store.addTenant(TENANT)
  const dir = scratchDir(t)
  const policyFile = join(dir, 'policy.yaml')
  // The child is declared first: the order comes from the references, not from the file.
  writeFileSync(policyFile, `version: 1
upstreams:
  old: { url: ${old.url} }
  new: { url: ${neu.url} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    compare: { ignore: [/updatedAt] }
    references: { /escalationPolicyId: escalation-policy, /teamId: team }
  - type: escalation-policy
    collection: /api/v1/tenants/:tenant/escalation-policies
    item: /api/v1/tenants/:tenant/escalation-policies/:id
    compare: { ignore: [/updatedAt] }
    references: { /teamId: team }
    sync: ${o.parentsSynced ?? true}
  - type: team
    collection: /api/v1/tenants/:tenant/teams
    item: /api/v1/tenants/:tenant/teams/:id
    compare: { ignore: [/updatedAt] }
rules:
  - name: default
    primary: old
sync:
  state: file:${join(dir, 'state')}
  batchSize: 2
  maxWritesPerSecond: 100000
  tenants: { list: /api/v1/tenants }
`)
  const once = () => runCli('sync', '--once', '--policy', policyFile, '--state-dir', dir)
  return { old, neu, writes, once }
}

function seed(api: ReferenceApi) {
  api.store.put('team', TENANT, 'ops', { id: 'ops', version: 1 })
  for (const ep of ['ep-1', 'ep-2']) api.store.put('escalation-policy', TENANT, ep, { id: ep, teamId: 'ops', version: 1 })
  for (const [rule, ep] of [['r1', 'ep-1'], ['r2', 'ep-2'], ['r3', 'ep-1'], ['r4', 'ep-2']] as const) {
    api.store.put('alert-rule', TENANT, rule, { id: rule, escalationPolicyId: ep, teamId: 'ops', version: 1 })
  }
}

/** The writes' kinds in the order the store saw them, each run of one kind once: ['PUT teams', 'PUT escalation-policies', ...]. */
function runs(writes: string[]): string[] {
  const kinds = writes.map(w => w.replace(/\/[^/]+$/, ''))
  return kinds.filter((k, i) => k !== kinds[i - 1])
}

t.test('a pass writes parents before the children that name them, and deletes children before their parents', async t => {
  const { old, neu, writes, once } = await setup(t)
  seed(old)
  const first = await once()
  t.equal(first.code, 0, first.out)
  t.match(first.out, 'upserted 7')
  t.same(runs(writes), ['PUT teams', 'PUT escalation-policies', 'PUT alert-rules'], 'team, then escalation policies, then alert rules')
  t.equal(neu.store.count(), 7)

  writes.length = 0
  for (const id of ['r1', 'r2', 'r3', 'r4']) old.store.delete('alert-rule', TENANT, id)
  for (const id of ['ep-1', 'ep-2']) old.store.delete('escalation-policy', TENANT, id)
  old.store.delete('team', TENANT, 'ops')
  const second = await once()
  t.equal(second.code, 0, second.out)
  t.match(second.out, 'deleted 7')
  t.same(runs(writes), ['DELETE alert-rules', 'DELETE escalation-policies', 'DELETE teams'], 'alert rules, then escalation policies, then the team')
  t.equal(neu.store.count(), 0)
})

t.test('sync --once names dangling references on both sides and exits 1', async t => {
  const { old, neu, once } = await setup(t)
  seed(old)
  old.store.put('alert-rule', TENANT, 'r9', { id: 'r9', escalationPolicyId: 'ep-missing', teamId: 'ops', version: 1 })
  const r = await once()
  t.equal(r.code, 1)
  t.match(r.out, 'NOT converged: 0 key(s) still differ, 2 dangling reference(s)')
  t.match(r.out, 'old: alert-rule acme/r9 names escalation-policy "ep-missing" at /escalationPolicyId, which old does not have')
  t.match(r.out, 'new: alert-rule acme/r9 names escalation-policy "ep-missing" at /escalationPolicyId, which new does not have')
  t.match(r.out, 'fix: create the missing object on the source')
  t.ok(neu.store.get('alert-rule', TENANT, 'r9'), 'the child is still copied as it is')
  old.store.put('escalation-policy', TENANT, 'ep-missing', { id: 'ep-missing', teamId: 'ops', version: 1 })
  const fixed = await once()
  t.equal(fixed.code, 0, 'the parent created on the source: copied, and nothing dangles')
  t.match(fixed.out, 'converged')
})

t.test('a parent the sync does not write dangles on the target only', async t => {
  const { old, once } = await setup(t, { parentsSynced: false })
  seed(old)
  const r = await once()
  t.equal(r.code, 1)
  t.match(r.out, '4 dangling reference(s)')
  t.match(r.out, 'new: alert-rule acme/r1 names escalation-policy "ep-1" at /escalationPolicyId, which new does not have')
  t.notMatch(r.out, /old: alert-rule/)
})
