import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { startPair } from '../helpers/upstream.ts'
import { startProcess } from '../helpers/process.ts'
import { eventually, startTestSidecar, type TestSidecar } from '../helpers/sidecar.ts'
import { NOISE_EVERY } from '../../src/parity/shadow.ts'
import { REDIS_URL, forgetMigration, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const RULE = '/api/v1/tenants/acme/alert-rules/r1'

interface Parity {
  rule: string, resourceType: string, comparisons: number
  results: Record<string, number>
  topPointers: Array<{ pointer: string, severity: string, count: number }>
  noisy: Array<{ pointer: string, suggestion: string }>
  samples: Array<{ id: string, result: string, path: string, diff?: Array<{ path: string, old?: unknown, new?: unknown }>, detail?: string }>
  readiness: string
}
interface Status { parity: Parity[], rules: Array<{ name: string, readiness: string, rolledBack: boolean }>, overrides: { entries: Record<string, { reason: string }> }, evidence: { slices: Array<{ resourceType: string, window: { samples: number } }> } }

function parityPolicy(oldUrl: string, newUrl: string, opts: { rules?: string, extra?: string } = {}): string {
  return `version: 1
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
    version: /version
    compare:
      ignore: [/updatedAt]
      unordered: { /receivers: /name }
      normalize: { /for: duration }
      critical: [/enabled, /threshold]
  - type: contact-point
    collection: /api/v1/tenants/:tenant/contact-points
    item: /api/v1/tenants/:tenant/contact-points/:id
    compare:
      critical: [/address]
      redact: [/config/token]
rules:${opts.rules ?? `
  - name: default
    primary: old
    shadowPercent: 100
`}
shadow: { maxInFlight: 64, maxBodyBytes: 100000, timeoutMs: 300, recheckLagMs: 150 }
gates:
  rollbackOnCriticalDrift: { enabled: true, threshold: 2, windowSec: 60, minSamples: 3 }
${opts.extra ?? ''}
`
}

async function setup(t: Test, opts: { rules?: string, extra?: string, redisUrl?: string } = {}) {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const file = join(dir, 'policy.yaml')
  writeFileSync(file, parityPolicy(oldUp.url, newUp.url, opts))
  const sidecar = await startTestSidecar(t, { policyFile: file, stateDir: dir, ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}) })
  return { oldUp, newUp, sidecar, file }
}

const status = async (s: TestSidecar) => (await (await fetch(s.adminUrl + '/status')).json()) as Status
const slice = (st: Status, resourceType = 'alert-rule') => st.parity.find(p => p.resourceType === resourceType)
async function read(s: TestSidecar, path = RULE) {
  const res = await s.get(path)
  return { status: res.status, body: await res.text(), servedBy: res.headers.get('x-dualread-served-by'), reason: res.headers.get('x-dualread-reason') }
}
const compared = (s: TestSidecar, n: number, type = 'alert-rule') => eventually(() => status(s), st => (slice(st, type)?.comparisons ?? 0) >= n)
/** Once the fleet's numbers (read back every second) hold `n` comparisons of the slice. */
const readiness = (s: TestSidecar, n: number, type = 'alert-rule') => eventually(() => status(s), st => (st.evidence.slices.find(v => v.resourceType === type)?.window.samples ?? 0) >= n)

const rule = (over: Record<string, unknown> = {}) => ({ id: 'r1', version: 3, enabled: true, threshold: 5, for: '5m', receivers: [{ name: 'a' }, { name: 'b' }], updatedAt: '2026-01-01', ...over })

t.test('a critical difference is classified critical, with its pointer, a sample and metrics', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule({ enabled: false }) }
  const r = await read(sidecar)
  t.same([r.status, r.servedBy, JSON.parse(r.body).enabled], [200, 'old', true], 'the client gets the primary answer')
  const st = await compared(sidecar, 1)
  const s = slice(st)!
  t.same(s.results, { match: 0, cosmetic: 0, critical: 1, lag: 0, error: 0 })
  t.same(s.topPointers, [{ pointer: '/enabled', severity: 'critical', count: 1 }])
  t.equal(s.samples[0]!.path, RULE)
  t.match(s.samples[0]!.diff, [{ path: '/enabled', old: true, new: false }])
  const metrics = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  t.match(metrics, /dualread_shadow_comparisons_total\{rule="default",resource_type="alert-rule",result="critical"\} 1/)
  t.match(metrics, /dualread_drift_pointers_total\{resource_type="alert-rule",pointer="\/enabled",severity="critical"\} 1/)
  t.match(metrics, /dualread_upstream_request_duration_seconds_count\{upstream="new",role="shadow"\} 1/)
  t.ok(sidecar.logs.some(l => l.includes('critical drift on alert-rule')), 'critical drift is logged')
  t.equal(newUp.writes().length + oldUp.writes().length, 0)
})

t.test('normalized, reordered and ignored differences match; others are cosmetic', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule({ for: '300s', receivers: [{ name: 'b' }, { name: 'a' }], updatedAt: '2026-02-02' }) }
  await read(sidecar)
  t.same(slice(await compared(sidecar, 1))!.results.match, 1, '"5m" = "300s", receivers as a set, updatedAt ignored')
  newUp.behaviour = { body: rule({ description: 'added by the new store' }) }
  await read(sidecar)
  const s = slice(await compared(sidecar, 2))!
  t.equal(s.results.cosmetic, 1)
  t.same(s.topPointers, [{ pointer: '/description', severity: 'cosmetic', count: 1 }])
})

t.test('a difference that a recheck no longer sees is lag, not drift', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule({ version: 4, threshold: 9 }) }
  // The new store has not caught up on the first read; it has by the recheck.
  newUp.behaviour = { body: (_req: unknown, n: number) => n === 0 ? rule({ version: 3, threshold: 5 }) : rule({ version: 4, threshold: 9 }) }
  await read(sidecar)
  const s = slice(await compared(sidecar, 1))!
  t.same(s.results, { match: 0, cosmetic: 0, critical: 0, lag: 1, error: 0 })
  t.same(s.topPointers, [], 'lag leaves no drifting pointers behind')
  t.equal(newUp.reads().length, 2, 'the new side was read again after recheckLagMs')
})

t.test('a shadow side that times out never delays the client, and counts as an error', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule(), delayMs: 1000 }
  const started = Date.now()
  const r = await read(sidecar)
  t.equal(r.status, 200)
  t.ok(Date.now() - started < 500, 'answered without waiting for the shadow')
  const s = slice(await compared(sidecar, 1))!
  t.equal(s.results.error, 1)
  t.match(s.samples[0]!.detail, /new shadow read failed/)
})

t.test('a saturated shadow skips and counts, and the primary is served', async t => {
  const { oldUp, newUp, sidecar, file } = await setup(t)
  writeFileSync(file, parityPolicy(oldUp.url, newUp.url).replace('maxInFlight: 64', 'maxInFlight: 1').replace('timeoutMs: 300', 'timeoutMs: 2000'))
  await eventually(async () => (await (await fetch(sidecar.adminUrl + '/status')).json() as { policy: { generation: number } }).policy.generation, g => g === 2)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule(), delayMs: 400 }
  const answers = await Promise.all(Array.from({ length: 6 }, () => read(sidecar)))
  t.same(answers.map(a => a.status), [200, 200, 200, 200, 200, 200])
  const metrics = await (await fetch(sidecar.adminUrl + '/metrics')).text()
  const skipped = Number(/dualread_shadow_skipped_total\{reason="max_in_flight"\} (\d+)/.exec(metrics)?.[1])
  t.ok(skipped >= 4, `skipped reads are counted (${skipped})`)
  t.ok(newUp.reads().length <= 2, 'the slow side was not flooded')
})

t.test('shadow failures never open the primary breaker', async t => {
  const { oldUp, newUp, sidecar } = await setup(t, { extra: 'breaker: { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 60000 }' })
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { status: 500 }
  for (let i = 0; i < 4; i++) await read(sidecar)
  await compared(sidecar, 4)
  const st = await (await fetch(sidecar.adminUrl + '/status')).json() as { upstreams: { new: { breakers: Record<string, string> } } }
  t.equal(st.upstreams.new.breakers['shadow'], 'open')
  t.not(st.upstreams.new.breakers['primary'], 'open')
})

t.test('collections compare item sets by id; a missing item on a last page is critical', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const items = [rule({ id: 'r1' }), rule({ id: 'r2' })]
  // A first page: the new store sorts differently, so its first page holds other items.
  oldUp.behaviour = { body: { items, nextCursor: 'abc' } }
  newUp.behaviour = { body: { items: [items[1], rule({ id: 'r3' })], nextCursor: 'xyz' } }
  await read(sidecar, '/api/v1/tenants/acme/alert-rules')
  t.equal(slice(await compared(sidecar, 1))!.results.match, 1, 'pages with more after them compare only the items both hold')
  oldUp.behaviour = { body: { items, nextCursor: null } }
  newUp.behaviour = { body: { items: [items[0]], nextCursor: null } }
  await read(sidecar, '/api/v1/tenants/acme/alert-rules')
  const s = slice(await compared(sidecar, 2))!
  t.equal(s.results.critical, 1)
  t.same(s.topPointers.map(p => p.pointer), ['/items/*'])
})

t.test('a secret never appears in /status, /metrics or the logs', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  const secret = 'sk-live-TOP-SECRET-1234'
  oldUp.behaviour = { body: { id: 'c1', address: 'ops@example.com', config: { token: secret, apiKey: `${secret}-key`, url: `https://bot:${secret}@hooks.example.com/x` } } }
  newUp.behaviour = { body: { id: 'c1', address: 'oncall@example.com', config: { token: `${secret}-rotated`, apiKey: `${secret}-key`, url: 'https://hooks.example.com/x' } } }
  await read(sidecar, '/api/v1/tenants/acme/contact-points/c1')
  const st = await compared(sidecar, 1, 'contact-point')
  const text = JSON.stringify(st) + await (await fetch(sidecar.adminUrl + '/metrics')).text() + sidecar.logs.join('')
  t.notOk(text.includes('TOP-SECRET'), 'no trace of the secret')
  t.match(JSON.stringify(slice(st, 'contact-point')!.samples[0]!.diff), /\[redacted:[0-9a-f]{8}\]/)
  t.equal(slice(st, 'contact-point')!.results.critical, 1, 'the address change is critical')
})

t.test('a pointer that differs between two reads of the same side is reported as noise', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: (_req: unknown, n: number) => rule({ etag: `e${n}` }) }
  newUp.behaviour = { body: rule() }
  for (let i = 0; i < NOISE_EVERY; i++) await read(sidecar)
  const st = await eventually(() => status(sidecar), s => (slice(s)?.noisy.length ?? 0) > 0)
  t.match(slice(st)!.noisy, [{ pointer: '/etag', suggestion: /ignore: \[\/etag\]/ }])
})

t.test('noise in a collection is reported relative to an item', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: (_req: unknown, n: number) => ({ items: [rule({ etag: `e${n}` })].concat(n % 2 ? [rule({ id: 'r9' })] : []) }) }
  newUp.behaviour = { body: { items: [rule()] } }
  for (let i = 0; i < NOISE_EVERY; i++) await read(sidecar, '/api/v1/tenants/acme/alert-rules')
  const st = await eventually(() => status(sidecar), s => (slice(s)?.noisy.length ?? 0) > 0)
  t.same(slice(st)!.noisy.map(n => n.pointer), ['/etag'], 'the item that came and went is not offered as an ignore line')
})

t.test('readiness needs enough samples and no critical drift', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule() }
  await read(sidecar)
  // Readiness comes from the fleet's numbers, which a replica adds to and reads back every second.
  let st = await readiness(sidecar, 1)
  t.equal(st.rules[0]!.readiness, 'inconclusive', 'one match out of three needed is not a pass')
  await read(sidecar)
  await read(sidecar)
  st = await readiness(sidecar, 3)
  t.equal(st.rules[0]!.readiness, 'ready')
  newUp.behaviour = { body: rule({ threshold: 6 }) }
  await read(sidecar)
  st = await readiness(sidecar, 4)
  t.equal(st.rules[0]!.readiness, 'not-ready')
})

t.test('the gate rolls a slice served by new back to the authority, for every replica through Redis', async t => {
  const migration = redisMigration(t)
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => { await forgetMigration(migration); redis.disconnect() })
  const rules = `
  - name: acme-on-new
    match: { tenants: [acme] }
    primary: new
    shadowPercent: 100
  - name: default
    primary: old
`
  const { oldUp, newUp, sidecar, file } = await setup(t, { rules, extra: `migration: ${migration}`, redisUrl: REDIS_URL })
  // The second replica is a separate dualread process sharing only Redis.
  const child = startProcess(['proxy', '--policy', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dirname(file), 'other')], { REDIS_URL })
  t.teardown(() => child.kill())
  const { proxy, admin } = await child.listening
  const readOther = async () => {
    const res = await fetch(`http://${proxy}${RULE}`)
    await res.arrayBuffer()
    return { servedBy: res.headers.get('x-dualread-served-by'), reason: res.headers.get('x-dualread-reason') }
  }
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule({ threshold: 50 }) }
  t.equal((await readOther()).servedBy, 'new', 'the other replica serves acme from new before the gate')
  await read(sidecar)
  // One critical comparison on each replica: neither alone reaches the threshold of 2, the
  // fleet's count does, and whichever replica judges first trips the gate for both.
  const st = await eventually(() => status(sidecar), s => s.overrides.entries['acme-on-new'] !== undefined)
  t.match(st.overrides.entries['acme-on-new']!.reason, /^gate: 2 critical difference\(s\) in 60 s \(samples s\d+(, s\d+)?\)/)
  t.equal((await read(sidecar)).reason, 'rollback')
  t.equal(await eventually(async () => (await readOther()).reason, r => r === 'rollback', 3000), 'rollback', 'the other replica obeys too')
  const trips = async (url: string) => Number(/dualread_gate_rollbacks_total\{rule="acme-on-new"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0)
  t.equal(await trips(sidecar.adminUrl) + await trips(`http://${admin}`), 1, 'one replica tripped it, once')
  const history = async () => (await (await fetch(`http://${admin}/history`)).json()) as { entries: Array<{ event: string, role: string, subject: string, reason: string }> }
  const tripped = (await eventually(history, h => h.entries.some(e => e.event === 'gate-tripped'))).entries.filter(e => e.event === 'gate-tripped')
  t.match(tripped, [{ role: 'proxy', subject: 'rule acme-on-new', reason: /^gate: 2 critical difference\(s\) in 60 s \(samples s\d+(, s\d+)?\)/ }],
    'the trip is in the migration\'s history, on the other replica too')
})

t.test('a gate does not act on slices served by old', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule({ threshold: 50 }) }
  for (let i = 0; i < 3; i++) await read(sidecar)
  const st = await readiness(sidecar, 3)
  t.same(st.overrides.entries, {}, 'drift while old serves makes the slice not ready, but rolls nothing back')
  t.equal(st.rules[0]!.readiness, 'not-ready')
})

const skippedNoBody = (s: TestSidecar, n: number) => eventually(async () => await (await fetch(s.adminUrl + '/metrics')).text(), m => m.includes(`dualread_shadow_skipped_total{reason="no_body"} ${n}`))

t.test('a HEAD read is not shadowed: it has no body to compare, so it is skipped as no_body, never a match', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  for (let i = 0; i < 3; i++) {
    const res = await fetch(sidecar.proxyUrl + RULE, { method: 'HEAD' })
    t.equal(res.status, 200)
    await res.arrayBuffer()
  }
  const metrics = await skippedNoBody(sidecar, 3)
  t.match(metrics, /dualread_shadow_skipped_total\{reason="no_body"\} 3/)
  t.notMatch(metrics, /dualread_shadow_comparisons_total\{/, 'no comparison is counted')
  t.equal(newUp.reads().length, 0, 'the shadow side is not even asked')
  t.equal(slice(await status(sidecar)), undefined, 'and the parity report has nothing to show')
})

t.test('a GET whose two answers have no body is skipped as no_body; a body on one side only is still compared', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { status: 204, body: '' }
  newUp.behaviour = { status: 204, body: '' }
  t.equal((await read(sidecar)).status, 204)
  const metrics = await skippedNoBody(sidecar, 1)
  t.match(metrics, /dualread_shadow_skipped_total\{reason="no_body"\} 1/)
  t.notMatch(metrics, /dualread_shadow_comparisons_total\{/)
  t.equal(newUp.reads().length, 1, 'the shadow side was read: only then is its body known to be empty')
  newUp.behaviour = { body: rule() }
  await read(sidecar)
  t.same(slice(await compared(sidecar, 1))!.results, { match: 0, cosmetic: 0, critical: 0, lag: 0, error: 1 }, 'a body on one side only is still compared (the empty one does not parse)')
})

t.test('systematic critical drift is one warn line with a sample, then a count: not a line per read', async t => {
  const { oldUp, newUp, sidecar } = await setup(t)
  oldUp.behaviour = { body: rule() }
  newUp.behaviour = { body: rule({ enabled: false }) }
  for (let i = 0; i < 30; i++) await read(sidecar)
  await compared(sidecar, 30)
  await sidecar.stop()
  const lines = sidecar.logs.map(l => JSON.parse(l) as { msg: string, count?: number, sample?: { diff: unknown } }).filter(l => /critical (drift|differences)/.test(l.msg))
  t.ok(lines.length <= 3, `${lines.length} lines for 30 critical differences`)
  t.match(lines[0], { msg: 'critical drift on alert-rule (rule "default")', sample: { diff: [{ path: '/enabled' }] } })
  t.equal(1 + lines.reduce((n, l) => n + (l.count ?? 0), 0), 30, 'every difference is counted')
})
