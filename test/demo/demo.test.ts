import { join } from 'node:path'
import t from 'tap'
import { startProcess } from '../helpers/process.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('dualread demo plays the cutover end to end and stops by itself', async t => {
  const dir = scratchDir(t)
  const p = startProcess(['demo', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--sync-admin', '127.0.0.1:0',
    '--old-port', '0', '--new-port', '0', '--state-dir', join(dir, 'demo'), '--duration', '1'], {}, 'never')
  t.teardown(() => p.kill())
  const [code] = await p.exited
  const { stdout } = p.output()
  t.equal(code, 0, stdout)
  t.match(stdout, /dualread demo: proxy http:\/\/127\.0\.0\.1:\d+/)
  t.match(stdout, /drift found on alert rules: .*\/escalationPolicyId \(critical/, 'the dropped field is found as critical')
  t.match(stdout, /\/for \(cosmetic/, 'the duration rewrite as cosmetic')
  t.match(stdout, /\+ normalize: \{ \/for: duration \}/, 'the policy edit is shown')
  t.match(stdout, /parity is clean/)
  t.match(stdout, /a read of acme now says: x-dualread-served-by: new, x-dualread-rule: acme/)
  t.match(stdout, /the gate rolled acme back to the authority \(old\): gate: \d+ critical difference\(s\) in 60 s/)
  t.match(stdout, /x-dualread-served-by: old, x-dualread-reason: rollback/)
  t.match(stdout, /writes go to new \(epoch 2; writes were held \d+ ms\); the sync now copies new → old/, 'the write cutover')
  t.match(stdout, /demo stopped/)
})

t.test('dualread demo on a port already in use says so', async t => {
  const { createServer } = await import('node:net')
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise(r => server.once('listening', r))
  t.teardown(() => server.close())
  const port = (server.address() as import('node:net').AddressInfo).port
  const p = startProcess(['demo', '--old-port', String(port), '--state-dir', join(scratchDir(t), 'demo'), '--duration', '1'], {}, 'never')
  const [code] = await p.exited
  t.equal(code, 1)
  t.match(p.output().stderr, /dualread demo failed to start: listen EADDRINUSE/)
})

t.test('a step that does not happen in time is said, and the narration moves on', async t => {
  const { startDemo } = await import('../../src/demo/demo.ts')
  const { captureLog } = await import('../helpers/sidecar.ts')
  const lines: string[] = []
  const demo = await startDemo({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', syncAdmin: '127.0.0.1:0', oldPort: 0, newPort: 0, stateDir: join(scratchDir(t), 'demo'), log: captureLog().log, say: l => lines.push(l), stepTimeoutMs: 1 })
  await demo.finished
  await demo.stop()
  t.ok(lines.some(l => l.includes('(waited 0.001 s for 30 comparisons; moving on)')))
  t.ok(lines.some(l => l.startsWith('Done: the cutover played through')))
})

t.test('with --redis the demo keeps its state in Redis under a name of its own, and removes it on stop', async t => {
  const { startDemo } = await import('../../src/demo/demo.ts')
  const { captureLog, eventually } = await import('../helpers/sidecar.ts')
  const { REDIS_URL } = await import('../helpers/redis.ts')
  const { Redis } = await import('ioredis')
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const lines: string[] = []
  const demo = await startDemo({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', syncAdmin: '127.0.0.1:0', oldPort: 0, newPort: 0, stateDir: join(scratchDir(t), 'demo'), redisUrl: REDIS_URL, log: captureLog().log, say: l => lines.push(l), stepTimeoutMs: 1 })
  const migration = /state Redis, migration (demo-[0-9a-f]{8})/.exec(lines.join('\n'))?.[1]
  t.ok(migration, 'the run names its migration')
  await demo.finished
  const keys = () => redis.keys(`dualread:{${migration}}:*`)
  // (The narration's last step moves writes to new: the sync restarts the other way round and takes the lease again.)
  t.ok((await eventually(keys, ks => ks.some(k => k.endsWith('sync:lease')))).some(k => k.endsWith('sync:lease')), 'the sync holds its lease in Redis')
  const rolled = await fetch(`${demo.adminUrl}/rollback`, { method: 'POST', body: JSON.stringify({ all: true }) })
  t.equal(rolled.status, 200)
  t.ok((await keys()).some(k => k.includes('overrides')), 'a rollback is stored in Redis, for every replica')
  await demo.stop()
  t.same(await keys(), [], 'nothing of the run is left in Redis')
})

t.test('dualread report on a recorded demo run: a reviewer reads what happened without the dashboard', async t => {
  const { startDemo } = await import('../../src/demo/demo.ts')
  const { captureLog } = await import('../helpers/sidecar.ts')
  const { runCli } = await import('../helpers/cli.ts')
  const { mkdirSync, writeFileSync } = await import('node:fs')
  const demo = await startDemo({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', syncAdmin: '127.0.0.1:0', oldPort: 0, newPort: 0, stateDir: join(scratchDir(t), 'demo'), log: captureLog().log, say: () => undefined })
  t.teardown(() => demo.stop())
  await demo.finished
  const md = await runCli('report', '--admin', demo.adminUrl)
  t.equal(md.code, 0, md.out)
  // Kept for people to read (ignored by git), beside the dashboard's screenshot.
  const artifacts = new URL('../../artifacts/', import.meta.url)
  mkdirSync(artifacts, { recursive: true })
  writeFileSync(new URL('demo-report.md', artifacts), md.out)
  t.match(md.out, /^# Migration demo: evidence for sign-off/)
  t.match(md.out, /\*\*Writes go to:\*\* (old|new) \(epoch \d+\)/, 'where writes go, from the shared cutover state')
  t.match(md.out, /\| acme \| new \| [^|]+ \| [^|]+ \| yes \|/, 'acme reads new, rolled back')
  t.match(md.out, /## Gate trips\n\n- \S+ rule acme: gate: \d+ critical difference\(s\) in 60 s/, 'the trip and why')
  t.match(md.out, /## Signals over time\n\nPer hour from the fleet's hourly buckets/)
  t.match(md.out, /### acme \/ alert-rule\n\n\| hour \| samples \|[^\n]*\n[^\n]*\n\| \d{4}-\d\d-\d\d \d\d:00Z \| \d+ \| [\d.]+% \|/, 'acme\'s alert rules per hour')
  t.match(md.out, /### acme \/ alert-rule\n[\s\S]*?\| [1-9]\d* \|\n/, 'the hour of the trip counts it')
  t.match(md.out, /### default \/ alert-rule\n/)
  t.match(md.out, /## Sync\n\nTotals: scanned \d+/)
  t.match(md.out, /\| \S+ \| gate-tripped \| rule acme \|/, 'the history')
})

t.test('the traffic generator shrugs off a proxy that is not there', async t => {
  const { TrafficGenerator } = await import('../../src/demo/traffic.ts')
  const { refusedPort } = await import('../helpers/upstream.ts')
  const traffic = new TrafficGenerator(`http://127.0.0.1:${await refusedPort()}`, ['acme'], 1)
  traffic.start()
  await new Promise(r => setTimeout(r, 100))
  await traffic.stop()
  t.equal(traffic.sent, 0)
})

t.test('a clean streak counts matches since the last difference', async t => {
  const { cleanStreak } = await import('../../src/demo/demo.ts')
  const streak = cleanStreak({ match: 10, cosmetic: 5, critical: 1 })
  t.equal(streak({ match: 14, cosmetic: 5, critical: 1 }), 4)
  t.equal(streak({ match: 15, cosmetic: 5, critical: 2 }), 0, 'a difference starts the count again')
  t.equal(streak({ match: 40, cosmetic: 5, critical: 2 }), 25)
})

t.test('the drift summary merges slices and says when there is none', async t => {
  const { summarize } = await import('../../src/demo/demo.ts')
  t.equal(summarize([]), 'none')
  t.equal(summarize([{ pointer: '/for', severity: 'cosmetic', count: 2 }, { pointer: '/x', severity: 'critical', count: 1 }, { pointer: '/for', severity: 'cosmetic', count: 3 }]), '/for (cosmetic, 5×), /x (critical, 1×)')
})
