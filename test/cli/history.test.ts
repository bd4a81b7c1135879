// `dualread history` and GET /history: the migration's record as an operator reads it, from any
// admin port — cutover steps and switches, policy generations, rollbacks — and the phase in /status.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSyncProcess } from '../../src/sidecar/sync-process.ts'
import { openStateStore } from '../../src/state/open.ts'
import type { AuditEntry } from '../../src/state/audit-log.ts'
import { renderHistory } from '../../src/cli/history-table.ts'
import { runCli } from '../helpers/cli.ts'
import { captureLog, eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { startEmbedded, startSyncFixture } from '../helpers/sync.ts'
import { TENANT, startCutoverFixture } from '../helpers/cutover.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

interface Status { migration: { name: string, phase: string, reason: string } }

const history = async (adminUrl: string, limit = 100) => (await (await fetch(`${adminUrl}/history?limit=${limit}`)).json()) as { backend: string, entries: AuditEntry[] }
const status = async (adminUrl: string) => (await (await fetch(`${adminUrl}/status`)).json()) as Status
const editPolicy = (file: string, from: string, to: string) => writeFileSync(file, readFileSync(file, 'utf8').replace(from, to))

t.test('a cutover through dualread cutover shows up in dualread history with its steps and its switch, and /status names the phase', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir, { old: { seed: { tenants: [TENANT], perType: 3 } } })
  const e = await startEmbedded(t, f)
  t.match(await status(e.proxy.adminUrl), { migration: { name: 'default', phase: 'fallback', reason: /old serves every read; new serves those of 1 rule\(s\) when old fails/ } })
  t.match(await runCli('cutover', '--to', 'new', '--admin', e.proxy.adminUrl), { code: 0 })
  // The proxy follows the switch on its next check-in (every 100 ms).
  t.match(await eventually(() => status(e.proxy.adminUrl), s => s.migration.phase === 'writes-on-new'), { migration: { phase: 'writes-on-new', reason: /writes go to new; 1 rule\(s\) still read old/ } })
  t.match(await status(e.sync.adminUrl), { migration: { phase: 'writes-on-new' } })

  const table = await runCli('history', '--admin', e.proxy.adminUrl)
  t.equal(table.code, 0)
  t.match(table.out, /^history, newest first \(entries: \d+\); kept in the state file\n/)
  for (const step of ['precheck', 'catch-up', 'hold', 'drain', 'switch']) t.match(table.out, new RegExp(`cutover-step .*run \\w{8}: ${step} old → new`), `the ${step} step`)
  t.match(table.out, /cutover-switched .*run \w{8}: old → new .*writes go to new \(epoch 2/)
  t.match(table.out, /policy-applied .* proxy .*generation 1/, 'the proxy recorded the policy it started with')
  t.match(table.out, /policy-applied .* sync .*generation 1/, 'and so did the sync')

  const json = await runCli('history', '--admin', e.sync.adminUrl, '--json')
  const entries = JSON.parse(json.out) as AuditEntry[]
  t.ok(entries.every((x, i) => i === 0 || x.at <= entries[i - 1]!.at), 'newest first')
  // The run that moved writes to new (the coordinator may already be on its way back: see the report).
  const switched = entries.findLast(x => x.event === 'cutover-switched')!
  const run = switched.detail['run']
  t.same(entries.filter(x => x.detail['run'] === run).map(x => x.detail['step'] ?? x.event).reverse(),
    ['precheck', 'catch-up', 'hold', 'drain', 'switch', 'cutover-switched'], 'one run, step by step, in order')
  t.match(switched, { role: 'sync', replica: /:\d+:/, detail: { from: 'old', to: 'new', epoch: 2, trigger: 'command', holdMs: Number } })
  t.ok(entries.every(x => !Number.isNaN(Date.parse(x.at))), 'each with its time')

  t.equal(JSON.parse((await runCli('history', '--admin', e.proxy.adminUrl, '--json', '--limit', '2')).out).length, 2, '--limit')
})

t.test('a policy reload and a rollback set and cleared show up on every admin port of a migration in Redis', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'history')
  const f = await startCutoverFixture(t, dir, { migration, redisUrl: REDIS_URL })
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: join(dir, 'sync'), log: captureLog().log, admin: '127.0.0.1:0', policyCheckIntervalMs: 100 })
  t.teardown(() => sync.stop())
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: join(dir, 'proxy'), redisUrl: REDIS_URL })

  t.match(await runCli('rollback', '--admin', proxy.adminUrl, '--rule', 'default', '--reason', 'acme pages late'), { code: 0 })
  t.match(await runCli('rollback', '--admin', proxy.adminUrl, '--all', '--reason', 'belt and braces'), { code: 0 })
  t.match(await runCli('rollback', '--admin', proxy.adminUrl, '--clear', '--reason', 'fixed in new'), { code: 0 })
  editPolicy(f.policyFile, '    primary: old\n', '    primary: old\n    shadowPercent: 10\n')
  const reloaded = (h: { entries: AuditEntry[] }) => h.entries.filter(x => x.event === 'policy-applied' && x.detail['generation'] === 2).length === 2
  const h = await eventually(() => history(sync.adminUrl), reloaded)
  t.equal(h.backend, 'redis')
  t.match(h.entries.filter(x => x.event === 'policy-applied' && x.detail['generation'] === 2).map(x => x.role).sort(), ['proxy', 'sync'], 'the reload, by each process that applied it')
  t.match(h.entries.find(x => x.event === 'policy-applied' && x.role === 'proxy' && x.detail['generation'] === 2),
    { subject: /^generation 2 \([0-9a-f]{16}\)$/, reason: `${f.policyFile} changed`, detail: { file: f.policyFile, origin: 'file', hash: /^[0-9a-f]{16}$/ } })
  const rollbacks = h.entries.filter(x => x.event.startsWith('rollback')).reverse()
  t.match(rollbacks, [
    { event: 'rollback-set', role: 'proxy', subject: 'rule default', reason: 'acme pages late', detail: { rule: 'default' } },
    { event: 'rollback-set', subject: 'all rules', reason: 'belt and braces', detail: { rule: '*' } },
    { event: 'rollback-cleared', subject: 'every override', reason: 'fixed in new' },
  ], 'set and cleared, in order, read from the sync process: the log is the migration\'s')
  const replicas = new Set(rollbacks.map(x => x.replica))
  t.equal(replicas.size, 1, 'by the one proxy replica that took them')
  t.match(await status(proxy.adminUrl), { migration: { name: migration, phase: 'shadow' } })
})

t.test('a proxy without shared state keeps its own history in memory', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: dir, redisUrl: null })
  await runCli('rollback', '--admin', proxy.adminUrl, '--rule', 'default')
  const table = await runCli('history', '--admin', proxy.adminUrl)
  t.match(table.out, /this process only: it shares no state/)
  t.match(table.out, /rollback-set .*rule default .*operator \(cli\)/)
  t.equal((await history(proxy.adminUrl)).backend, 'memory')
  for (const limit of ['0', 'ten', '10001']) {
    const res = await fetch(`${proxy.adminUrl}/history?limit=${limit}`)
    t.equal(res.status, 400, `limit=${limit}`)
    t.match(await res.json(), { error: 'bad_request', detail: 'limit must be a whole number from 1 to 10000' })
  }
  t.match(await runCli('history', '--admin', proxy.adminUrl, '--limit', 'ten'), { code: 1, out: /the admin server answered 400 to \/history: limit must be a whole number/ })
  t.match(await runCli('history', '--admin', 'http://127.0.0.1:1'), { code: 1, out: /cannot reach the admin server at http:\/\/127.0.0.1:1/ })
  t.match(await (await fetch(`${proxy.adminUrl}/nowhere`)).json(), { detail: /\/history/ })
})

t.test('with Redis gone, a rollback and a reload still succeed; the lost entries are one warning, and /history says why it cannot answer', async t => {
  const dir = scratchDir(t)
  const migration = redisMigration(t, 'history')
  const f = await startSyncFixture(t, dir)
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const { log } = captureLog()
  const store = await openStateStore(`redis://127.0.0.1:${relay.port}`, migration, log)
  t.teardown(() => store.close())
  // Overrides in memory, the audit log in Redis: what fails below is the append alone.
  const proxy = await startTestSidecar(t, { policyFile: f.policyFile, stateDir: dir, redisUrl: null, changeStore: store })
  await relay.cut()

  const rollback = await runCli('rollback', '--admin', proxy.adminUrl, '--rule', 'default')
  t.match(rollback, { code: 0, out: /overrides in force: default/ }, 'the rollback is stored and obeyed')
  editPolicy(f.policyFile, '    primary: old\n', '    primary: old\n    shadowPercent: 5\n')
  const st = await eventually(() => (async () => (await (await fetch(`${proxy.adminUrl}/status`)).json()) as { policy: { generation: number } })(), s => s.policy.generation === 2)
  t.equal(st.policy.generation, 2, 'the reload is applied')
  const warned = () => proxy.logs.filter(l => l.includes('cannot record in the audit log'))
  await eventually(warned, w => w.length > 0)
  t.equal(warned().length, 1, 'one warning for the outage')
  const res = await fetch(`${proxy.adminUrl}/history`)
  t.equal(res.status, 503)
  t.match(await res.json(), { error: 'unavailable', detail: /cannot read the audit log: audit log in redis: cannot read it.*retry once the state store answers/ })

  await relay.start()
  await eventually(async () => (await fetch(`${proxy.adminUrl}/history`)).status, s => s === 200, 8000)
  t.match(await runCli('rollback', '--admin', proxy.adminUrl, '--clear'), { code: 0 })
  await eventually(() => proxy.logs.join(''), l => l.includes('audit log recording again'))
  t.match((await history(proxy.adminUrl)).entries, [{ event: 'rollback-cleared' }], 'recorded again once Redis answers')
})

t.test('the table says when nothing is recorded yet', async t => {
  t.equal(renderHistory({ backend: 'redis', entries: [] }), 'history, newest first (entries: 0); shared by every proxy and sync process of the migration (redis)\nnothing recorded yet\n')
})

t.test('a sync process started while Redis is unreachable serves /status from the policy and says /history is unavailable', async t => {
  const dir = scratchDir(t)
  const f = await startSyncFixture(t, dir)
  const { refusedPort } = await import('../helpers/upstream.ts')
  f.writePolicy({ state: `redis://127.0.0.1:${await refusedPort()}` })
  const sync = await startSyncProcess({ policyFile: f.policyFile, stateDir: dir, log: captureLog().log, admin: '127.0.0.1:0' })
  t.teardown(() => sync.stop())
  t.match(await status(sync.adminUrl), { direction: { from: 'old', to: 'new' }, migration: { phase: 'fallback' } }, 'the authority the policy names, until the store can say')
  t.match(await runCli('history', '--admin', sync.adminUrl), { code: 1, out: /the admin server answered 503 to \/history: cannot read the audit log: audit log in redis: cannot read it/ })
})
