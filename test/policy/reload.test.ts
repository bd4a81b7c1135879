import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { policyYaml } from '../helpers/policy.ts'
import { TestUpstream, startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { startProxySidecar } from '../../src/sidecar/proxy-sidecar.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { compilePolicy } from '../../src/policy/compile.ts'
import { PolicySource } from '../../src/policy/source.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const ITEM = '/api/v1/tenants/other/alert-rules/r1'
const ON_NEW = `
  - name: default
    primary: new
    fallback: true
`
const ON_OLD = `
  - name: default
    primary: old
    fallback: true
`

interface Status { policy: { generation: number, hash: string, origin: string, degraded: boolean, lastError: null | { problems: string[] }, restartNeeded: null | Record<string, unknown> } }

async function upstreams(t: Test) {
  const { oldUp, newUp } = await startPair(t)
  return { oldUrl: oldUp.url, newUrl: newUp.url }
}

const servedBy = async (s: TestSidecar) => {
  const res = await s.get(ITEM)
  await res.arrayBuffer()
  return res.headers.get('x-dualread-served-by')
}
const status = async (s: TestSidecar) => (await (await fetch(s.adminUrl + '/status')).json()) as Status

t.test('a policy replaced by an atomic rename takes effect', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  t.equal(await servedBy(sidecar), 'old')
  const before = await status(sidecar)

  writeFileSync(join(dir, 'policy.yaml.tmp'), policyYaml({ ...urls, rules: ON_NEW }))
  renameSync(join(dir, 'policy.yaml.tmp'), file)
  t.equal(await eventually(() => servedBy(sidecar), v => v === 'new'), 'new', 'reads flip to new')
  const after = await status(sidecar)
  t.equal(after.policy.generation, before.policy.generation + 1)
  t.not(after.policy.hash, before.policy.hash)
  t.match(await (await fetch(sidecar.adminUrl + '/metrics')).text(), /dualread_policy_reloads_total\{result="applied"\} 2/)
})

t.test('a Kubernetes ConfigMap swap of the ..data symlink takes effect, more than once', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  // The kubelet layout: policy.yaml -> ..data/policy.yaml, ..data -> ..2026_v1 (swapped by rename).
  const version = (name: string, rules: string) => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'policy.yaml'), policyYaml({ ...urls, rules }))
    symlinkSync(name, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  version('..2026_v1', ON_OLD)
  symlinkSync('..data/policy.yaml', join(dir, 'policy.yaml'))
  const sidecar = await startTestSidecar(t, { policyFile: join(dir, 'policy.yaml'), stateDir: join(dir, 'state'), policyCheckIntervalMs: 60_000 })
  t.equal(await servedBy(sidecar), 'old')
  version('..2026_v2', ON_NEW.replace('primary: new', 'primary: new\n    newPercent: 5'))
  t.equal(await eventually(() => servedBy(sidecar), v => v === 'new'), 'new', 'the first swap is seen (through the directory watch)')
  t.ok(sidecar.logs.some(l => l.includes('newPercent has no effect')), 'warnings of an applied policy are logged')
  version('..2026_v3', ON_OLD)
  t.equal(await eventually(() => servedBy(sidecar), v => v === 'old'), 'old', 'and so is the second')
  t.equal((await status(sidecar)).policy.generation, 3)
})

t.test('an invalid policy is rejected and the last good one stays', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }).replace('shadowPercent', 'x').replace('primary: old', 'primary: olld'))
  const s = await eventually(() => status(sidecar), v => v.policy.lastError !== null)
  t.match(s.policy.lastError!.problems[0], /policy\.yaml:\d+:\d+ error rules\[0\]\.primary: "olld" is not allowed/)
  t.equal(s.policy.generation, 1, 'the generation did not move')
  t.equal(await servedBy(sidecar), 'new', 'reads still follow the last good policy')
  const rejected = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  t.match(rejected, /dualread_policy_reloads_total\{result="rejected"\} 1/)
  t.match(rejected, /^dualread_policy_file_rejected 1$/m, 'the file on disk is not the policy in force')
  t.ok(sidecar.logs.some(l => l.includes('policy reload rejected') && l.includes('olld')), 'the rejection is logged with the reason')

  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const fixed = await eventually(() => status(sidecar), v => v.policy.generation === 2)
  t.equal(fixed.policy.lastError, null, 'a good file clears the error')
  t.match(await (await fetch(sidecar.adminUrl + '/metrics')).text(), /^dualread_policy_file_rejected 0$/m)
  t.equal(await servedBy(sidecar), 'old')
})

t.test('a restart with an invalid file serves the persisted last good policy and says so', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  const stateDir = join(dir, 'state')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const first = await startTestSidecar(t, { policyFile: file, stateDir })
  await first.stop()
  const saved = JSON.parse(readFileSync(join(stateDir, 'last-good-policy.json'), 'utf8')) as { file: string, migration: string, text: string }
  t.match(saved, { file, migration: 'default', text: /primary: new/ }, 'saved with the file and migration it belongs to')

  writeFileSync(file, 'version: 1\nrules: [')
  const second = await startTestSidecar(t, { policyFile: file, stateDir })
  t.equal(await servedBy(second), 'new', 'it serves')
  const s = await status(second)
  t.same([s.policy.origin, s.policy.degraded], ['persisted', true])
  t.match(s.policy.lastError!.problems[0], /policy\.yaml:\d+:\d+ error \(yaml\)/)
  t.ok(second.logs.some(l => l.includes('"level":50') && l.includes('POLICY FILE INVALID AT START')), 'loudly, at error level')
  t.match(await (await fetch(second.adminUrl + '/metrics')).text(), /^dualread_policy_file_rejected 1$/m, 'and in dualread_policy_file_rejected, from its first scrape')

  // Fixing the file brings it back to normal.
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const fixed = await eventually(() => status(second), v => v.policy.origin === 'file')
  t.same([fixed.policy.degraded, fixed.policy.lastError], [false, null])
  t.match(await (await fetch(second.adminUrl + '/metrics')).text(), /^dualread_policy_file_rejected 0$/m)
})

t.test('with neither a valid file nor a saved policy the proxy refuses to start', async t => {
  const dir = scratchDir(t, { 'policy.yaml': 'version: 2\n' })
  const { log } = captureLog()
  await t.rejects(startProxySidecar({ policyFile: join(dir, 'policy.yaml'), stateDir: join(dir, 'state'), log, listen: '127.0.0.1:0', admin: '127.0.0.1:0' }),
    { name: 'PolicyLoadError', message: /no valid policy/ })
  mkdirSync(join(dir, 'state'))
  writeFileSync(join(dir, 'state', 'last-good-policy.yaml'), 'version: 1\n')
  await t.rejects(startProxySidecar({ policyFile: join(dir, 'policy.yaml'), stateDir: join(dir, 'state'), log, listen: '127.0.0.1:0', admin: '127.0.0.1:0' }),
    { name: 'PolicyLoadError' }, 'a corrupt saved policy is not served either')
  unlinkSync(join(dir, 'policy.yaml'))
  await t.rejects(startProxySidecar({ policyFile: join(dir, 'policy.yaml'), stateDir: join(dir, 'state'), log, listen: '127.0.0.1:0', admin: '127.0.0.1:0' }),
    { name: 'PolicyLoadError', message: /no valid policy/ })
})

t.test('an upstream change on reload rebuilds the pools; in-flight reads finish on the old policy', async t => {
  const oldUp = await TestUpstream.start('old')
  const newUp = await TestUpstream.start('new')
  const third = await TestUpstream.start('third')
  t.teardown(() => Promise.all([oldUp.close(), newUp.close(), third.close()]))
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ oldUrl: oldUp.url, newUrl: newUp.url, rules: ON_OLD }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  oldUp.behaviour = { delayMs: 400 }
  const slow = sidecar.get(ITEM)
  await eventually(() => oldUp.received.length, n => n === 1)
  writeFileSync(file, policyYaml({ oldUrl: third.url, newUrl: newUp.url, rules: ON_OLD }))
  await eventually(() => status(sidecar), v => v.policy.generation === 2)
  const res = await slow
  t.equal(res.status, 200)
  t.match(await res.json(), { served: 'old' }, 'the in-flight read completed against the upstream it started on')
  const next = await sidecar.get(ITEM)
  t.match(await next.json(), { served: 'third' }, 'new reads use the new upstream')
})

t.test('a state dir that cannot be written is logged, and the proxy still serves', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t, { 'not-a-dir': 'a file where the state dir should be' })
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'not-a-dir') })
  t.equal(await servedBy(sidecar), 'old')
  await eventually(() => sidecar.logs.join(''), s => s.includes('cannot persist the last good policy'))
  t.ok(sidecar.logs.some(l => l.includes('cannot persist the last good policy')), 'the operator is told a restart with a broken file would not serve')
})

t.test('a policy directory that cannot be watched falls back to the periodic check', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t, { mount: {} })
  const stateDir = join(dir, 'state')
  const file = join(dir, 'mount', 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  await (await startTestSidecar(t, { policyFile: file, stateDir })).stop()
  // The mount is gone entirely: the file is unreadable and its directory cannot be watched.
  rmSync(join(dir, 'mount'), { recursive: true })
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir })
  t.equal(await servedBy(sidecar), 'new', 'the saved policy of this same file serves')
  t.ok(sidecar.logs.some(l => l.includes('cannot watch the policy directory')))
  t.ok(sidecar.logs.some(l => l.includes('POLICY FILE INVALID AT START') && l.includes('"migrationChecked":false')), 'the log says the migration could not be checked')
  t.match((await status(sidecar)).policy.lastError!.problems[0], /cannot read/)
})

t.test('an alias to a missing anchor on reload is rejected at its line; the last good policy keeps serving', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  // The edit from the report: `sed -i 's/^authority: old$/authority: *old/' policy.yaml`.
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^authority: old$/m, 'authority: *old'))
  const s = await eventually(() => status(sidecar), v => v.policy.lastError !== null)
  t.match(s.policy.lastError!.problems[0], /policy\.yaml:6:12 error \(yaml\): alias \*old refers to no anchor/)
  t.equal(s.policy.generation, 1)
  t.equal(await servedBy(sidecar), 'new', 'the proxy is alive and serves the last good policy')
  t.ok(sidecar.logs.some(l => l.includes('policy reload rejected') && l.includes('alias *old')), 'the rejection is logged with the reason')
})

t.test('a restart with an alias mistake in the file serves the last good policy', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  const stateDir = join(dir, 'state')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  await (await startTestSidecar(t, { policyFile: file, stateDir })).stop()
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^authority: old$/m, 'authority: *old'))
  const second = await startTestSidecar(t, { policyFile: file, stateDir })
  t.equal(await servedBy(second), 'new')
  t.match((await status(second)).policy, { origin: 'persisted', lastError: { problems: [/alias \*old refers to no anchor/] } })
})

t.test('whatever compiling a policy throws on reload is a rejection with the reason; the last good one stays', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  let compiles = 0
  const source = new PolicySource({
    file, stateDir: join(dir, 'state'), log, metrics, checkIntervalMs: 60_000,
    compile: (policy, hash) => {
      if (++compiles > 1) throw new TypeError('injected: the router cannot take this pattern')
      return compilePolicy(policy, hash)
    },
  })
  t.teardown(() => source.close())
  const first = await source.start()
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  await source.check()
  t.equal(source.current, first, 'the last good policy stays in force')
  t.match(source.lastError!.problems, [{ key: '(policy)', message: 'cannot load this policy: injected: the router cannot take this pattern' }])
  t.ok(logs.some(l => l.includes('policy reload rejected') && l.includes('injected')))
})

t.test('a file missing for a moment (a ConfigMap directory mid-swap) changes nothing; the next check applies what comes back', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const { log, logs } = captureLog()
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const source = new PolicySource({ file, stateDir: join(dir, 'state'), log, metrics, checkIntervalMs: 60_000 })
  t.teardown(() => source.close())
  const first = await source.start()
  unlinkSync(file)
  await source.check()
  t.equal(source.current, first, 'the policy in force stays')
  t.equal(source.lastError, undefined, 'a missing file is not a rejection')
  t.notOk(logs.some(l => l.includes('rejected')), 'nor logged as one')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  await source.check()
  t.equal(source.current.generation, first.generation + 1, 'the file that came back is applied')
})

/** Starts a sidecar on `file`, lets it save its policy as the last good one, and stops it. */
async function runOnce(t: Test, file: string, stateDir: string): Promise<void> {
  await (await startTestSidecar(t, { policyFile: file, stateDir })).stop()
}

const refusal = (file: string, stateDir: string) => {
  const { log, logs } = captureLog()
  return { logs, started: startProxySidecar({ policyFile: file, stateDir, log, listen: '127.0.0.1:0', admin: '127.0.0.1:0' }) }
}

t.test('the last good policy of another policy file is refused at start, saying whose it is', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const stateDir = join(dir, 'state')
  const a = join(dir, 'policy-a.yaml')
  writeFileSync(a, policyYaml({ ...urls, rules: ON_NEW }))
  await runOnce(t, a, stateDir)
  const b = join(dir, 'policy-b.yaml')
  writeFileSync(b, policyYaml({ ...urls, rules: ON_OLD }).replace('primary: old', 'primary: olld'))
  const { logs, started } = refusal(b, stateDir)
  await t.rejects(started, {
    name: 'PolicyLoadError',
    message: `no valid policy: ${b} is invalid, and the last good policy saved in ${stateDir} belongs to ${a} (migration "default"), not to ${b}, so it is not used. Fix ${b} (\`dualread policy check ${b}\` says how); this process does not start`,
  })
  t.ok(logs.some(l => l.includes('"level":50') && l.includes('not to ' + b)), 'the refusal is logged at error level')
})

t.test('the last good policy of another migration is refused, even for the same file', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const stateDir = join(dir, 'state')
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW, extra: 'migration: alerting-2025' }))
  await runOnce(t, file, stateDir)
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW, extra: 'migration: routing-2026\nshadow: { maxInFlight: -1 }' }))
  await t.rejects(refusal(file, stateDir).started, { message: /belongs to migration "alerting-2025", but .*policy\.yaml names migration "routing-2026", so it is not used/ })
  // A file that names no migration is the default migration, which is not alerting-2025 either.
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW, extra: 'shadow: { maxInFlight: -1 }' }))
  await t.rejects(refusal(file, stateDir).started, { message: /names migration "default"/ })
  // One whose migration is lost in a syntax error is judged by its file alone.
  writeFileSync(file, 'version: 1\nrules: [\nmigration: alerting-2025\n')
  const served = await startTestSidecar(t, { policyFile: file, stateDir })
  t.equal(await servedBy(served), 'new')
})

t.test('a last good policy saved by an older version, with no record of its file, is refused loudly', async t => {
  const dir = scratchDir(t, { state: { 'last-good-policy.yaml': policyYaml({ oldUrl: 'http://127.0.0.1:1', newUrl: 'http://127.0.0.1:2' }) }, 'policy.yaml': 'version: 1\nrules: [' })
  await t.rejects(refusal(join(dir, 'policy.yaml'), join(dir, 'state')).started, {
    message: /the last good policy in .*last-good-policy\.yaml was saved by an older dualread with no record of which policy file and migration it belongs to, so it is not used/,
  })
})

t.test('a valid file replaces a legacy last good copy with one that records its file and migration', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t, { state: { 'last-good-policy.yaml': 'version: 1\n' } })
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  await runOnce(t, file, join(dir, 'state'))
  t.throws(() => readFileSync(join(dir, 'state', 'last-good-policy.yaml')), { code: 'ENOENT' })
  t.match(JSON.parse(readFileSync(join(dir, 'state', 'last-good-policy.json'), 'utf8')), { format: 1, file, migration: 'default' })
})

t.test('a damaged or no longer valid saved policy is refused, saying which', async t => {
  const dir = scratchDir(t, { 'policy.yaml': 'version: 1\nrules: [' })
  const file = join(dir, 'policy.yaml')
  const stateDir = join(dir, 'state')
  mkdirSync(stateDir)
  writeFileSync(join(stateDir, 'last-good-policy.json'), '{"format": 1, "file": ')
  await t.rejects(refusal(file, stateDir).started, { message: /the saved last good policy .*last-good-policy\.json is damaged \(not a saved policy: .*\), so it is not used/ })
  writeFileSync(join(stateDir, 'last-good-policy.json'), JSON.stringify({ format: 1, file, migration: 'default', hash: 'x', savedAt: 'then', text: 'version: 2\n' }))
  await t.rejects(refusal(file, stateDir).started, { message: /last-good-policy\.json no longer validates \(.*last-good-policy\.json:1:\d+ error version/ })
})

t.test('a reload that changes listen or admin says a restart is needed, in /status and the log', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD, extra: 'listen: 127.0.0.1:0\nadmin: 127.0.0.1:0' }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state'), listen: undefined, admin: undefined })
  t.equal((await status(sidecar)).policy.restartNeeded, null)
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW, extra: 'listen: 127.0.0.2:0\nadmin: 127.0.0.3:0' }))
  const s = await eventually(() => status(sidecar), v => v.policy.generation === 2)
  t.match(s.policy.restartNeeded, {
    keys: ['listen', 'admin'], bound: { listen: '127.0.0.1:0', admin: '127.0.0.1:0' }, wanted: { listen: '127.0.0.2:0', admin: '127.0.0.3:0' },
    reason: /listen and admin changed in the policy; addresses are bound at start, so restart the process to move them/,
  })
  t.equal(await servedBy(sidecar), 'new', 'everything else in the new policy is applied')
  t.ok(sidecar.logs.some(l => l.includes('"level":40') && l.includes('restart needed') && l.includes('"keys":["listen","admin"]')), 'the log says which keys')

  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD, extra: 'listen: 127.0.0.1:0\nadmin: 127.0.0.4:0' }))
  const one = await eventually(() => status(sidecar), v => v.policy.generation === 3)
  t.match(one.policy.restartNeeded, { keys: ['admin'], reason: /^admin changed in the policy; .* to move it / })
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD, extra: 'listen: 127.0.0.1:0\nadmin: 127.0.0.1:0' }))
  const back = await eventually(() => status(sidecar), v => v.policy.generation === 4)
  t.equal(back.policy.restartNeeded, null, 'back to the bound addresses, no restart is needed')
})

t.test('listen and admin given on the command line win, so changing them in the policy needs no restart', async t => {
  const urls = await upstreams(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW, extra: 'listen: 127.0.0.2:0\nadmin: 127.0.0.3:0' }))
  const s = await eventually(() => status(sidecar), v => v.policy.generation === 2)
  t.equal(s.policy.restartNeeded, null)
})
