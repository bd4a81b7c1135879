import { request } from 'node:http'
import { gzipSync } from 'node:zlib'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { runCli } from '../helpers/cli.ts'
import { buildProgram } from '../../src/cli/main.ts'
import { NOISE_EVERY } from '../../src/parity/shadow.ts'
import { dyingUpstream, refusedPort, startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const RULE = '/api/v1/tenants/acme/alert-rules/r1'
const doc = (over: Record<string, unknown> = {}) => ({ id: 'r1', version: 1, enabled: true, threshold: 5, ...over })

function policy(oldUrl: string, newUrl: string, o: { shadow?: string, rules?: string, extra?: string } = {}): string {
  return `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
breaker: { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 60000 }
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    version: /version
    compare: { critical: [/enabled, /threshold] }
rules:${o.rules ?? `
  - name: default
    primary: old
    shadowPercent: 100
`}
shadow: ${o.shadow ?? '{ maxInFlight: 8, maxBodyBytes: 100000, timeoutMs: 300, recheckLagMs: 100 }'}
gates:
  rollbackOnCriticalDrift: { enabled: true, threshold: 1, windowSec: 60, minSamples: 1 }
${o.extra ?? ''}
`
}

async function setup(t: Test, o: Parameters<typeof policy>[2] & { redisUrl?: string } = {}) {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  writeFileSync(join(dir, 'policy.yaml'), policy(oldUp.url, newUp.url, o))
  const sidecar = await startTestSidecar(t, { policyFile: join(dir, 'policy.yaml'), stateDir: dir, ...(o.redisUrl ? { redisUrl: o.redisUrl } : {}) })
  return { oldUp, newUp, sidecar }
}

const metric = async (s: TestSidecar, pattern: RegExp) => Number(pattern.exec(await (await fetch(s.adminUrl + '/metrics')).text())?.[1] ?? 0)
const skipped = (s: TestSidecar, reason: string) => metric(s, new RegExp(`dualread_shadow_skipped_total\\{reason="${reason}"\\} (\\d+)`))
const comparisons = (s: TestSidecar, result: string) => metric(s, new RegExp(`dualread_shadow_comparisons_total\\{rule="[^"]+",resource_type="alert-rule",result="${result}"\\} (\\d+)`))
async function read(s: TestSidecar, path = RULE) {
  const res = await s.get(path)
  return { status: res.status, body: await res.text() }
}

t.test('bodies over maxBodyBytes are served in full but not compared, on either side', async t => {
  const { oldUp, newUp, sidecar } = await setup(t, { shadow: '{ maxInFlight: 8, maxBodyBytes: 200, timeoutMs: 300, recheckLagMs: 100 }' })
  const big = doc({ description: 'x'.repeat(1000) })
  oldUp.behaviour = { body: big }
  newUp.behaviour = { body: doc() }
  const r = await read(sidecar)
  t.same(JSON.parse(r.body), big, 'the client gets the whole body')
  t.equal(await eventually(() => skipped(sidecar, 'body_too_large'), n => n === 1), 1, 'a large primary body is skipped')
  oldUp.behaviour = { body: doc() }
  newUp.behaviour = { body: big }
  await read(sidecar)
  t.equal(await eventually(() => skipped(sidecar, 'body_too_large'), n => n === 2), 2, 'so is a large shadow body')
  t.equal(await comparisons(sidecar, 'match') + await comparisons(sidecar, 'error'), 0, 'neither was compared')
})

t.test('a slow client gets the whole shadowed body, at its own pace', async t => {
  const { oldUp, newUp, sidecar } = await setup(t, { shadow: '{ maxInFlight: 8, maxBodyBytes: 8000000, timeoutMs: 2000, recheckLagMs: 100 }' })
  const big = doc({ description: 'y'.repeat(3_000_000) })
  oldUp.behaviour = { body: big }
  newUp.behaviour = { body: big }
  const received = await new Promise<number>((resolve, reject) => {
    request(sidecar.proxyUrl + RULE, res => {
      res.pause()
      let size = 0
      setTimeout(() => { res.on('data', d => { size += d.length }); res.on('end', () => resolve(size)); res.resume() }, 200)
    }).on('error', reject).end()
  })
  t.equal(received, Buffer.byteLength(JSON.stringify(big)))
  t.equal(await eventually(() => comparisons(sidecar, 'match'), n => n === 1), 1, 'and the comparison still ran')
})

t.test('an open shadow breaker skips comparisons; a failed primary skips them too', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: doc() }
  newUp.behaviour = { status: 503 }
  for (let i = 0; i < 3; i++) await read(sidecar)
  await eventually(() => comparisons(sidecar, 'error'), n => n >= 2)
  await read(sidecar)
  t.ok(await eventually(() => skipped(sidecar, 'breaker_open'), n => n >= 1) >= 1, 'breaker_open')
  oldUp.behaviour = { status: 500 }
  newUp.behaviour = { body: doc() }
  const r = await read(sidecar)
  t.equal(r.status, 200, 'served by fallback')
  t.equal(await eventually(() => skipped(sidecar, 'primary_failed'), n => n === 1), 1, 'primary_failed')
})

t.test('a lag recheck that fails keeps the first comparison', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: doc({ version: 2, threshold: 9 }) }
  newUp.behaviour = { body: doc({ version: 1 }), status: n => n === 0 ? 200 : 500 }
  await read(sidecar)
  t.equal(await eventually(() => comparisons(sidecar, 'critical'), n => n === 1), 1)
  t.equal(newUp.reads().length, 2, 'the recheck was tried')
})

t.test('a failed noise re-read is shrugged off', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  // Old fails exactly on the re-read that follows the NOISE_EVERY-th comparison.
  oldUp.behaviour = { body: doc(), status: n => n === NOISE_EVERY ? 500 : 200 }
  newUp.behaviour = { body: doc() }
  for (let i = 0; i < NOISE_EVERY; i++) await read(sidecar)
  t.equal(await eventually(() => comparisons(sidecar, 'match'), n => n === NOISE_EVERY), NOISE_EVERY)
  t.equal(oldUp.reads().length, NOISE_EVERY + 1, 'the re-read happened')
})

t.test('a gate that cannot store its rollback says so and keeps serving', async t => {
  const rules = `
  - name: default
    primary: new
    shadowPercent: 100
`
  const { oldUp, newUp, sidecar } = await setup(t, { rules, redisUrl: `redis://127.0.0.1:${await refusedPort()}` })
  oldUp.behaviour = { body: doc() }
  newUp.behaviour = { body: doc({ threshold: 1 }) }
  t.equal((await read(sidecar)).status, 200)
  await eventually(() => sidecar.logs.join(''), l => l.includes('drift gate could not store its rollback'))
  t.ok(sidecar.logs.some(l => l.includes('drift gate could not store its rollback')))
})

t.test('dualread parity prints the report as tables', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const run = (...args: string[]) => runCli('parity', ...args)
  t.match(await run('--admin', sidecar.adminUrl), { out: /no shadow comparisons yet/, code: 0 })
  oldUp.behaviour = { body: doc({ etag: 'a' }) }
  newUp.behaviour = { body: doc({ threshold: 7 }) }
  await read(sidecar)
  await eventually(() => comparisons(sidecar, 'critical'), n => n === 1)
  // Readiness is the fleet's, read back every second.
  await eventually(async () => (await (await fetch(`${sidecar.adminUrl}/status`)).json()) as { rules: Array<{ readiness: string }> }, s => s.rules[0]!.readiness === 'not-ready')
  const { out, code } = await run('--admin', sidecar.adminUrl)
  t.equal(code, 0)
  t.match(out, /default\s+│\s+alert-rule\s+│\s+1\s+│\s+0\.0\s+│\s+0\s+│\s+0\s+│\s+1\s+│/)
  t.match(out, /\/threshold \(critical, 1\)/)
  t.match(out, /not-ready/)
  t.match(await run('--admin', 'http://127.0.0.1:1'), { out: /cannot reach the admin server/, code: 1 })
})

t.test('dualread parity against a token-protected admin', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  writeFileSync(join(dir, 'policy.yaml'), policy(oldUp.url, newUp.url))
  const secured = await startTestSidecar(t, { policyFile: join(dir, 'policy.yaml'), stateDir: dir, admin: '0.0.0.0:0', adminToken: 'tok' })
  const base = secured.adminUrl.replace('0.0.0.0', '127.0.0.1')
  const run = () => runCli('parity', '--admin', base)
  t.match(await run(), { out: /the admin server answered 401/, code: 1 })
  process.env['DUALREAD_ADMIN_TOKEN'] = 'tok'
  t.teardown(() => { delete process.env['DUALREAD_ADMIN_TOKEN'] })
  t.match(await run(), { out: /no shadow comparisons yet/, code: 0 }, 'with DUALREAD_ADMIN_TOKEN set it is let in')
})

t.test('gzip answers are compared after decompression and passed to the client untouched', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const gz = (v: unknown) => gzipSync(JSON.stringify(v))
  oldUp.behaviour = { body: (_r: unknown) => gz(doc()), headers: { 'content-encoding': 'gzip' } }
  newUp.behaviour = { body: (_r: unknown) => gz(doc({ enabled: false })), headers: { 'content-encoding': 'gzip' } }
  const res = await sidecar.get(RULE, { 'accept-encoding': 'gzip' })
  t.same(await res.json(), doc(), 'the client decodes the primary answer')
  t.equal(await eventually(() => comparisons(sidecar, 'critical'), n => n === 1), 1, 'the shadow comparison saw through the compression')
})

t.test('a client that hangs up during a shadowed read does not leave the upstream read behind', async t => {
  const { oldUp, newUp, sidecar } = await setup(t, { shadow: '{ maxInFlight: 8, maxBodyBytes: 8000000, timeoutMs: 2000, recheckLagMs: 100 }' })
  const big = doc({ description: 'z'.repeat(3_000_000) })
  oldUp.behaviour = { body: big }
  newUp.behaviour = { body: big }
  await new Promise<void>(resolve => {
    const req = request(sidecar.proxyUrl + RULE, res => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', () => resolve())
    req.end()
  })
  t.equal(await eventually(() => skipped(sidecar, 'primary_failed'), n => n === 1), 1, 'the half-read primary is not compared')
  t.equal((await read(sidecar)).status, 200, 'the proxy keeps serving')
})

t.test('a primary that dies mid-body during a shadowed read cuts the client off and is not compared', async t => {
  const { newUp } = await startPair(t)
  const dir = scratchDir(t)
  writeFileSync(join(dir, 'policy.yaml'), policy(await dyingUpstream(t), newUp.url))
  const sidecar = await startTestSidecar(t, { policyFile: join(dir, 'policy.yaml'), stateDir: dir })
  const res = await sidecar.get(RULE)
  await t.rejects(res.text())
  t.equal(await eventually(() => skipped(sidecar, 'primary_failed'), n => n === 1), 1)
})

t.test('a failed shadow read of old, while new serves, is an error with the new status', async t => {
  const rules = `
  - name: default
    primary: new
    shadowPercent: 100
`
  const { oldUp, newUp, sidecar } = await setup(t, { rules })
  newUp.behaviour = { body: doc() }
  oldUp.behaviour = { status: 500 }
  await read(sidecar)
  t.equal(await eventually(() => comparisons(sidecar, 'error'), n => n === 1), 1)
  const st = await (await fetch(sidecar.adminUrl + '/status')).json() as { parity: Array<{ samples: Array<{ status: unknown, detail: string }> }> }
  t.match(st.parity[0]!.samples[0], { status: { old: 0, new: 200 }, detail: /old shadow read failed/ })
})
