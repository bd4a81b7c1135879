// Every policy generation reaches the audit log, with what changed it: the file at start, the
// last good copy (persisted) when the file was invalid at start, an edit, and an edit applied
// while the log was still being opened.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PolicySource } from '../../src/policy/source.ts'
import { followPolicies } from '../../src/sidecar/audit-policies.ts'
import { MemoryAuditLog } from '../../src/state/audit-log.ts'
import { AuditRecorder } from '../../src/state/audit-recorder.ts'
import { ConditionLog } from '../../src/telemetry/condition-log.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { policyYaml } from '../helpers/policy.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const URLS = { oldUrl: 'http://127.0.0.1:1', newUrl: 'http://127.0.0.1:2' }

async function startSource(t: Test, file: string, stateDir: string) {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const source = new PolicySource({ file, stateDir, log: captureLog().log, metrics, checkIntervalMs: 60_000 })
  t.teardown(() => source.close())
  await source.start()
  return source
}

t.test('generations applied before the log is open are recorded once it is, then each edit as it is applied', async t => {
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml(URLS))
  const source = await startSource(t, file, join(dir, 'state'))
  const recordPolicies = followPolicies(source)
  writeFileSync(file, policyYaml({ ...URLS, authority: 'new' }))
  await source.check()
  const audit = new MemoryAuditLog()
  const { log } = captureLog()
  recordPolicies(new AuditRecorder({ audit, role: 'proxy', replica: 'p1', conditions: new ConditionLog(log) }))
  writeFileSync(file, policyYaml(URLS))
  await source.check()
  t.match(audit.entries.toReversed(), [
    { event: 'policy-applied', subject: /^generation 1 \(\w{16}\)$/, reason: `${file}, read at start`, detail: { generation: 1, origin: 'file', file } },
    { subject: /^generation 2 /, reason: `${file} changed`, detail: { generation: 2 } },
    { subject: /^generation 3 /, reason: `${file} changed` },
  ])
  await source.close() // its last good copy is written before the test directory goes
})

t.test('a start from the last good copy is recorded as persisted', async t => {
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  const stateDir = join(dir, 'state')
  writeFileSync(file, policyYaml(URLS))
  const good = await startSource(t, file, stateDir)
  await good.close()
  writeFileSync(file, 'version: 1\nrules: [')
  const source = await startSource(t, file, stateDir)
  const audit = new MemoryAuditLog()
  followPolicies(source)(new AuditRecorder({ audit, role: 'sync', replica: 's1', conditions: new ConditionLog(captureLog().log) }))
  t.match(audit.entries, [{ reason: `${file} is invalid; the last good copy (persisted) serves until it is fixed`, detail: { origin: 'persisted' } }])
  await source.close()
})
