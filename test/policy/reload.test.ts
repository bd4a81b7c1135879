import { mkdirSync, renameSync, symlinkSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs'
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

interface Status { policy: { generation: number, hash: string, origin: string, degraded: boolean, lastError: null | { problems: string[] } } }

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
  const dir = t.testdir()
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
  const dir = t.testdir()
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
  const dir = t.testdir()
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'state') })
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }).replace('shadowPercent', 'x').replace('primary: old', 'primary: olld'))
  const s = await eventually(() => status(sidecar), v => v.policy.lastError !== null)
  t.match(s.policy.lastError!.problems[0], /policy\.yaml:\d+:\d+ error rules\[0\]\.primary: "olld" is not allowed/)
  t.equal(s.policy.generation, 1, 'the generation did not move')
  t.equal(await servedBy(sidecar), 'new', 'reads still follow the last good policy')
  t.match(await (await fetch(sidecar.adminUrl + '/metrics')).text(), /dualread_policy_reloads_total\{result="rejected"\} 1/)
  t.ok(sidecar.logs.some(l => l.includes('policy reload rejected') && l.includes('olld')), 'the rejection is logged with the reason')

  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const fixed = await eventually(() => status(sidecar), v => v.policy.generation === 2)
  t.equal(fixed.policy.lastError, null, 'a good file clears the error')
  t.equal(await servedBy(sidecar), 'old')
})

t.test('a restart with an invalid file serves the persisted last good policy and says so', async t => {
  const urls = await upstreams(t)
  const dir = t.testdir()
  const file = join(dir, 'policy.yaml')
  const stateDir = join(dir, 'state')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_NEW }))
  const first = await startTestSidecar(t, { policyFile: file, stateDir })
  await first.stop()
  t.match(readFileSync(join(stateDir, 'last-good-policy.yaml'), 'utf8'), /primary: new/)

  writeFileSync(file, 'version: 1\nrules: [')
  const second = await startTestSidecar(t, { policyFile: file, stateDir })
  t.equal(await servedBy(second), 'new', 'it serves')
  const s = await status(second)
  t.same([s.policy.origin, s.policy.degraded], ['persisted', true])
  t.match(s.policy.lastError!.problems[0], /policy\.yaml:\d+:\d+ error \(yaml\)/)
  t.ok(second.logs.some(l => l.includes('"level":50') && l.includes('POLICY FILE INVALID AT START')), 'loudly, at error level')

  // Fixing the file brings it back to normal.
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const fixed = await eventually(() => status(second), v => v.policy.origin === 'file')
  t.same([fixed.policy.degraded, fixed.policy.lastError], [false, null])
})

t.test('with neither a valid file nor a saved policy the proxy refuses to start', async t => {
  const dir = t.testdir({ 'policy.yaml': 'version: 2\n' })
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
  const dir = t.testdir()
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
  const dir = t.testdir({ 'not-a-dir': 'a file where the state dir should be' })
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ ...urls, rules: ON_OLD }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: join(dir, 'not-a-dir') })
  t.equal(await servedBy(sidecar), 'old')
  await eventually(() => sidecar.logs.join(''), s => s.includes('cannot persist the last good policy'))
  t.ok(sidecar.logs.some(l => l.includes('cannot persist the last good policy')), 'the operator is told a restart with a broken file would not serve')
})

t.test('a policy directory that cannot be watched falls back to the periodic check', async t => {
  const urls = await upstreams(t)
  const dir = t.testdir()
  const stateDir = join(dir, 'state')
  writeFileSync(join(dir, 'policy.yaml'), policyYaml({ ...urls, rules: ON_NEW }))
  await (await startTestSidecar(t, { policyFile: join(dir, 'policy.yaml'), stateDir })).stop()
  // The mount is gone entirely: the file is unreadable and its directory cannot be watched.
  const sidecar = await startTestSidecar(t, { policyFile: join(dir, 'gone', 'policy.yaml'), stateDir })
  t.equal(await servedBy(sidecar), 'new', 'the saved policy serves')
  t.ok(sidecar.logs.some(l => l.includes('cannot watch the policy directory')))
  t.match((await status(sidecar)).policy.lastError!.problems[0], /cannot read/)
})

t.test('an alias to a missing anchor on reload is rejected at its line; the last good policy keeps serving', async t => {
  const urls = await upstreams(t)
  const dir = t.testdir()
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
  const dir = t.testdir()
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
  const dir = t.testdir()
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
