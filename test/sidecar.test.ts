import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { policyYaml } from './helpers/policy.ts'
import { refusedPort, TestUpstream } from './helpers/upstream.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import { scratchDir } from './helpers/scratch-dir.ts'

t.test('without --listen and --admin the policy\'s addresses are used, IPv6 included', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const [proxyPort, adminPort] = [await refusedPort(), await refusedPort()]
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9', extra: `listen: "[::1]:${proxyPort}"\nadmin: "127.0.0.1:${adminPort}"` }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir, listen: undefined, admin: undefined })
  t.equal(sidecar.proxyUrl, `http://[::1]:${proxyPort}`)
  t.equal(sidecar.adminUrl, `http://127.0.0.1:${adminPort}`)
  const res = await fetch(`${sidecar.proxyUrl}/api/v1/tenants/other/alert-rules`)
  t.equal(res.status, 200)
  await res.arrayBuffer()
})

t.test('a read slower than the drain timeout is cut off, and stop still completes', async t => {
  const oldUp = await TestUpstream.start('old')
  t.teardown(() => oldUp.close())
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, policyYaml({ oldUrl: oldUp.url, newUrl: 'http://127.0.0.1:9', timeoutMs: 5000 }))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir, drainTimeoutMs: 200 })
  oldUp.behaviour = { delayMs: 2000 }
  const slow = fetch(`${sidecar.proxyUrl}/api/v1/tenants/other/alert-rules`).then(r => r.text()).catch(() => 'cut off')
  while (oldUp.received.length === 0) await new Promise(r => setTimeout(r, 10))
  await sidecar.stop()
  t.equal(await slow, 'cut off')
  t.ok(sidecar.logs.some(l => l.includes('drain timed out')))
})
