// The shipped policies/alertmanager.yaml against two real Alertmanagers (Debian's package, started
// here on free ports): a dualread proxy in front of them compares silences, receivers and status,
// and the sync copies silences old → new, paired by natural key across the two stores' own ids.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseDocument } from 'yaml'
import { syncOnce } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import { alertmanagerMissing, startAlertmanager, type Alertmanager } from '../helpers/alertmanager.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const POLICY = join(import.meta.dirname, '../../policies/alertmanager.yaml')
const CONFIG = `route:
  receiver: default
  routes:
    - matchers: [team="db"]
      receiver: db-oncall
receivers:
  - name: default
  - name: db-oncall
`
const HOUR = 3_600_000

const missing = alertmanagerMissing()
if (missing) t.fail(missing)

interface Silence { id: string, matchers: Array<{ name: string, value: string }>, createdBy: string, comment: string, endsAt: string, status: { state: string } }

/** Both Alertmanagers, the shipped policy pointed at them (every read shadowed), a proxy sharing the sync's state. */
async function setup(t: Parameters<typeof scratchDir>[0]) {
  const dir = scratchDir(t)
  const old = await startAlertmanager(t, join(dir, 'old'), CONFIG)
  const neu = await startAlertmanager(t, join(dir, 'new'), CONFIG)
  const doc = parseDocument(readFileSync(POLICY, 'utf8'))
  doc.setIn(['upstreams', 'old', 'url'], old.url)
  doc.setIn(['upstreams', 'new', 'url'], neu.url)
  doc.setIn(['rules', 0, 'shadowPercent'], 100)
  doc.setIn(['shadow'], { recheckLagMs: 0 })
  doc.setIn(['sync', 'state'], `file:${join(dir, 'state')}`)
  const policyFile = join(dir, 'policy.yaml')
  writeFileSync(policyFile, doc.toString())
  const { log } = captureLog('warn')
  const state = await openStateStore(`file:${join(dir, 'state')}`, 'default', log)
  t.teardown(() => state.close())
  const proxy = await startTestSidecar(t, { policyFile, stateDir: join(dir, 'proxy'), changeStore: state })
  const results = async (type: string) => ((await (await fetch(`${proxy.adminUrl}/status`)).json()) as { parity: Array<{ resourceType: string, results: Record<string, number> }> }).parity.find(p => p.resourceType === type)?.results ?? {}
  /** Reads `path` through the proxy and waits for its comparison; resolves to the type's counts. */
  const compared = async (path: string, type: string) => {
    const before = Object.values(await results(type)).reduce((a, b) => a + b, 0)
    const res = await proxy.get(path)
    await res.arrayBuffer()
    return eventually(() => results(type), r => Object.values(r).reduce((a, b) => a + b, 0) > before)
  }
  const once = () => syncOnce({ policyFile, stateDir: dir, log, state })
  return { old, neu, proxy, compared, once, state }
}

function silenceBody(value: string, comment = 'maintenance window'): Record<string, unknown> {
  const now = Date.now()
  return {
    matchers: [{ name: 'alertname', value, isRegex: false, isEqual: true }, { name: 'team', value: 'db', isRegex: false, isEqual: true }],
    startsAt: new Date(now - HOUR).toISOString(), endsAt: new Date(now + 2 * HOUR).toISOString(),
    createdBy: 'alice', comment,
  }
}

async function active(am: Alertmanager): Promise<Silence[]> {
  return (await am.json('/api/v2/silences') as Silence[]).filter(s => s.status.state !== 'expired')
}

t.test('status with different uptimes matches, receivers match, and a silence only on old is critical', async t => {
  const { old, compared } = await setup(t)
  t.match(await compared('/api/v2/status', 'status'), { match: 1, critical: 0 }, 'uptime (and the cluster\'s per-instance fields) ignored')
  t.match(await compared('/api/v2/receivers', 'receiver'), { match: 1, critical: 0 })
  t.match(await compared('/api/v2/silences', 'silence'), { match: 1 }, 'no silences on either side')
  const id = await old.silence(silenceBody('DiskFull'))
  t.match(await compared('/api/v2/silences', 'silence'), { match: 1, critical: 1 }, 'the silence list differs by a silence only old has')
  t.match(await compared(`/api/v2/silence/${id}`, 'silence'), { critical: 2 }, 'and new has nothing under that id')
})

t.test('the sync copies silences old → new, pairs them by natural key, and a second pass changes nothing', async t => {
  const { old, neu, compared, once, state } = await setup(t)
  const disk = await old.silence(silenceBody('DiskFull'))
  await old.silence(silenceBody('HighLatency', 'deploy'))
  t.match(await once(), { upserted: 2, errors: 0, converged: true })
  const copies = await active(neu)
  t.same(copies.map(s => s.matchers.find(m => m.name === 'alertname')!.value).sort(), ['DiskFull', 'HighLatency'])
  const diskCopy = copies.find(s => s.comment === 'maintenance window')!
  t.not(diskCopy.id, disk, 'new named its copy itself')
  t.equal(await state.ids.otherId('new', 'silence', '', disk), diskCopy.id, 'the id map pairs the two')
  t.match(await once(), { upserted: 0, deleted: 0, unchanged: 2, converged: true }, 'a second pass changes nothing')
  t.equal((await active(neu)).length, 2, 'no duplicates')

  t.match(await compared('/api/v2/silences', 'silence'), { match: 1, critical: 0 }, 'the lists match: paired by natural key, ids, start and state left out')
  t.match(await compared(`/api/v2/silence/${disk}`, 'silence'), { match: 2, critical: 0 }, 'a read of old\'s silence is compared with new\'s copy under new\'s id')

  // Expiring a silence (DELETE) leaves it listed as expired: absent on both sides once the sync expires the copy.
  await old.json(`/api/v2/silence/${disk}`, { method: 'DELETE' })
  t.match(await once(), { deleted: 1, converged: true })
  t.same((await active(neu)).map(s => s.comment), ['deploy'])
  t.match(await once(), { upserted: 0, deleted: 0, unchanged: 1, converged: true })
  t.equal(await state.ids.otherId('new', 'silence', '', disk), undefined, 'the expired pair is forgotten')
})

t.test('a silence created on new only is expired there by the sync; an edited comment updates the copy', async t => {
  const { old, neu, once, state } = await setup(t)
  const id = await old.silence(silenceBody('DiskFull'))
  await neu.silence(silenceBody('Stray', 'left over on new'))
  t.match(await once(), { upserted: 1, deleted: 1, converged: true })
  t.same((await active(neu)).map(s => s.comment), ['maintenance window'])
  // Same matchers, creator and comment: the natural key; a longer window is an update of the copy.
  const longer = { ...silenceBody('DiskFull'), id, endsAt: new Date(Date.now() + 5 * HOUR).toISOString() }
  await old.silence(longer)
  t.match(await once(), { upserted: 1, converged: true })
  const [copy] = await active(neu)
  t.equal(Date.parse(copy!.endsAt), Date.parse(longer.endsAt as string), 'the copy ends when the original does')
  // Alertmanager replaces a silence it cannot update in place (here: its start is not the stored one) under a new id, on either side.
  const [original] = await active(old)
  t.equal(await state.ids.otherId('new', 'silence', '', original!.id), copy!.id, 'the id map pairs the silences in force')
  t.match(await once(), { upserted: 0, converged: true })
})
