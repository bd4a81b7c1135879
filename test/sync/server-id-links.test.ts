// Links to objects whose stores assign their own ids, against real reference APIs: the new store
// names escalation policies itself, so a rule copied to new must name new's id of its policy
// (translated through the id map), never old's; a rule whose policy is not paired yet waits.
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { startReferenceApi, type ReferenceApi } from '../../src/reference/index.ts'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'
import { byName, writeServerIdsPolicy } from '../helpers/server-ids.ts'

type Test = Parameters<typeof scratchDir>[0]

const RULES = '/api/v1/tenants/acme/alert-rules'

function writePolicy(dir: string, old: ReferenceApi, neu: ReferenceApi, authority = 'old'): string {
  return writeServerIdsPolicy(dir, old, neu, `  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    naturalKey: [/name]
    write:
      create: { method: POST, path: collection }
      update: { method: PUT, path: item }
    compare: { ignore: [/updatedAt, /version], critical: [/escalationPolicyId] }
    references: { /escalationPolicyId: escalation-policy, /fallbacks/*: escalation-policy }
  - type: escalation-policy
    collection: /api/v1/tenants/:tenant/escalation-policies
    item: /api/v1/tenants/:tenant/escalation-policies/:id
    naturalKey: [/name]
    write:
      create: { method: POST, path: collection }
      update: { method: PUT, path: item }
    compare: { ignore: [/updatedAt, /version] }
`, { authority, batchSize: 10 })
}

async function setup(t: Test, onRequest?: (req: IncomingMessage) => unknown, authority?: string) {
  const dir = scratchDir(t)
  const old = await startReferenceApi()
  const neu = await startReferenceApi({ flavour: { serverIds: true }, ...(onRequest ? { onRequest } : {}) })
  t.teardown(() => Promise.all([old.close(), neu.close()]))
  neu.store.addTenant('acme')
  old.store.addTenant('acme')
  const policyFile = writePolicy(dir, old, neu, authority)
  const { log, logs } = captureLog('warn')
  return { dir, old, neu, policyFile, logs, once: () => syncOnce({ policyFile, stateDir: dir, log }) }
}

/** The proxy's parity results for alert rules (undefined before the first comparison). */
async function ruleParity(adminUrl: string): Promise<Record<string, number> | undefined> {
  const status = await (await fetch(`${adminUrl}/status`)).json() as { parity: Array<{ resourceType: string, results: Record<string, number> }> }
  return status.parity.find(p => p.resourceType === 'alert-rule')?.results
}

t.test('a rule copied to the new store names new\'s id of its escalation policy, and a second pass finds both stores equal', async t => {
  const { old, neu, once } = await setup(t)
  old.store.put('escalation-policy', 'acme', 'ep-1', { name: 'primary', steps: ['page'] })
  old.store.put('escalation-policy', 'acme', 'ep-2', { name: 'secondary', steps: ['email'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: 'ep-1', fallbacks: ['ep-2'] })
  old.store.put('alert-rule', 'acme', 'r2', { name: 'disk', escalationPolicyId: 'ep-2', fallbacks: [] })
  t.match(await once(), { upserted: 4, errors: 0, dangling: { count: 0 }, converged: true })
  const policies = byName(neu, 'escalation-policy')
  const [primary, secondary] = [policies.get('primary')!['id'], policies.get('secondary')!['id']]
  t.notOk(['ep-1', 'ep-2'].includes(primary as string), 'new named its policies itself')
  t.match(byName(neu, 'alert-rule').get('cpu'), { escalationPolicyId: primary, fallbacks: [secondary] }, 'cpu pages new\'s primary, falls back to new\'s secondary')
  t.match(byName(neu, 'alert-rule').get('disk'), { escalationPolicyId: secondary })
  t.match(await once(), { upserted: 0, unchanged: 4, errors: 0, converged: true }, 'equal once translated: nothing rewritten')

  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: 'ep-2', fallbacks: [] })
  t.match(await once(), { upserted: 1, converged: true })
  t.match(byName(neu, 'alert-rule').get('cpu'), { escalationPolicyId: secondary, fallbacks: [] }, 'a changed link is translated too')
})

t.test('after the write cutover (new is the authority) the sync writes old\'s copies in old\'s ids', async t => {
  const { old, neu, once } = await setup(t, undefined, 'new')
  const policy = neu.store.put('escalation-policy', 'acme', 'np-1', { name: 'primary', steps: ['page'] })
  neu.store.put('alert-rule', 'acme', 'nr-1', { name: 'cpu', escalationPolicyId: policy.id, fallbacks: [] })
  t.match(await once(), { upserted: 2, errors: 0, converged: true })
  const onOld = byName(old, 'escalation-policy').get('primary')!['id']
  t.not(onOld, policy.id)
  t.match(byName(old, 'alert-rule').get('cpu'), { escalationPolicyId: onOld })
  t.match(await once(), { upserted: 0, unchanged: 2 })
})

t.test('a rule naming a policy the id map does not pair is not written (it would name the wrong object) until the policy is copied', async t => {
  const { old, neu, once, logs } = await setup(t)
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: 'ep-9', fallbacks: [] })
  t.match(await once(), { upserted: 0, errors: 1, converged: false })
  t.notOk(byName(neu, 'alert-rule').has('cpu'), 'nothing written to new')
  t.match(logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l['msg'] === 'sync could not apply a key; a later pass retries it'), {
    key: 'alert-rule/acme/cpu',
    err: { message: /it names escalation-policy "ep-9" \(at \/escalationPolicyId\), which the id map pairs with no object of the new store yet/ },
  })
  old.store.put('escalation-policy', 'acme', 'ep-9', { name: 'late', steps: [] })
  t.match(await once(), { upserted: 2, errors: 0, converged: true }, 'the policy first, then the rule')
  t.match(byName(neu, 'alert-rule').get('cpu'), { escalationPolicyId: byName(neu, 'escalation-policy').get('late')!['id'] })
})

t.test('shadow reads compare links in old\'s ids: the same policies on both sides match, and each side\'s link is looked up on its own store', async t => {
  const { dir, old, neu, policyFile, once } = await setup(t)
  old.store.put('escalation-policy', 'acme', 'ep-1', { name: 'primary', steps: ['page'] })
  old.store.put('escalation-policy', 'acme', 'ep-2', { name: 'secondary', steps: ['email'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: 'ep-1', fallbacks: ['ep-2'] })
  await once()
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const parity = () => ruleParity(proxy.adminUrl)
  const references = async (result: string) => {
    const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text()
    return [...text.matchAll(new RegExp(`^dualread_shadow_references_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0)
  }
  const ruleOnNew = byName(neu, 'alert-rule').get('cpu')!['id'] as string
  await (await proxy.get(`${RULES}/r1`)).arrayBuffer()
  t.match(await eventually(parity, r => r !== undefined), { match: 1, critical: 0 }, 'the item: new names new\'s policies, old old\'s, and they are the same ones')
  t.ok(neu.store.get('alert-rule', 'acme', ruleOnNew), 'read on new under new\'s id')
  await (await proxy.get(RULES)).arrayBuffer()
  t.match(await eventually(parity, r => (r?.['match'] ?? 0) > 1), { match: 2, critical: 0 }, 'the list too')
  t.equal(await references('broken'), 0)
  t.ok(await references('resolved') >= 2, 'both policies found on both sides')

  // Pointed at a policy new does not pair: a difference, and a broken link.
  const lonely = neu.store.put('escalation-policy', 'acme', 'only-on-new', { name: 'stray', steps: [] })
  neu.store.put('alert-rule', 'acme', ruleOnNew, { name: 'cpu', escalationPolicyId: lonely.id, fallbacks: [byName(neu, 'escalation-policy').get('secondary')!['id']] })
  await (await proxy.get(`${RULES}/r1`)).arrayBuffer()
  t.match(await eventually(parity, r => (r?.['critical'] ?? 0) > 0), { critical: 1 })
  t.ok(await eventually(() => references('broken'), n => n > 0), 'new\'s stray policy is not on old')
  await proxy.stop()
})

t.test('a rule without links, one new does not have, and a new answer that does not decode are compared as before', async t => {
  let garble = false
  const { dir, old, policyFile, once } = await setup(t, req => {
    if (!garble || req.method !== 'GET' || !req.url!.includes('/alert-rules/')) return undefined
    garble = false
    return { status: 200, headers: { 'content-encoding': 'gzip' }, body: { name: 'not gzip at all' } }
  })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: null, fallbacks: [] })
  await once()
  old.store.put('alert-rule', 'acme', 'r2', { name: 'disk', escalationPolicyId: null, fallbacks: [] })
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', captureLog().log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const parity = () => ruleParity(proxy.adminUrl)
  await (await proxy.get(`${RULES}/r1`)).arrayBuffer()
  t.match(await eventually(parity, r => r !== undefined), { match: 1 }, 'no link to translate: the same answer')
  await (await proxy.get(`${RULES}/r2`)).arrayBuffer()
  t.match(await eventually(parity, r => (r?.['critical'] ?? 0) > 0), { match: 1, critical: 1 }, 'not synced yet: new answers 404')
  garble = true
  await (await proxy.get(`${RULES}/r1`)).arrayBuffer()
  t.match(await eventually(parity, r => (r?.['error'] ?? 0) > 0), { match: 1, critical: 1, error: 1 }, 'the comparison says new\'s body does not decode')
  await proxy.stop()
})

t.test('a proxy without the sync\'s state (no id map) compares links as the stores give them: different ids differ', async t => {
  const { dir, old, policyFile, once } = await setup(t)
  old.store.put('escalation-policy', 'acme', 'ep-1', { name: 'primary', steps: ['page'] })
  old.store.put('alert-rule', 'acme', 'r1', { name: 'cpu', escalationPolicyId: 'ep-1', fallbacks: [] })
  await once()
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy') })
  const parity = () => ruleParity(proxy.adminUrl)
  await (await proxy.get(RULES)).arrayBuffer()
  t.match(await eventually(parity, r => r !== undefined), { critical: 1 })
  await proxy.stop()
})
