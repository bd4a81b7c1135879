// A fault that every request runs into (an open breaker, Redis down) is logged as its state
// changes and a count, not as one line per request: the real sidecar, its real log.
import t from 'tap'
import { writePolicy } from '../helpers/policy.ts'
import { refusedPort, startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const READS = 300

interface Line { msg: string, count?: number, total?: number }
const parsed = (logs: string[]) => logs.map(l => JSON.parse(l) as Line)

t.test('reads falling back while the old breaker is open are a few lines with the right counts, not one per read', async t => {
  const { oldUp, newUp } = await startPair(t)
  oldUp.behaviour = { status: 503 }
  const dir = scratchDir(t)
  const breaker = '{ errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 600000 }'
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, breaker }), stateDir: dir })
  for (let i = 0; i < READS; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const res = await sidecar.get('/api/v1/tenants/other/alert-rules/r1')
      t.equal(res.headers.get('x-dualread-served-by'), 'new')
      await res.arrayBuffer()
    }))
  }
  t.ok(oldUp.reads().length < READS, 'the breaker opened: old stopped being asked')
  await sidecar.stop() // what was not summarized yet is logged on stop
  const lines = parsed(sidecar.logs)
  const fallbacks = lines.filter(l => /fell back|fall back|failed over/.test(l.msg))
  t.ok(fallbacks.length <= 6, `${fallbacks.length} lines about ${READS} fallbacks`)
  const begins = fallbacks.filter(l => l.count === undefined)
  t.equal(begins.length + fallbacks.reduce((n, l) => n + (l.count ?? 0), 0), READS, 'the lines account for every read that fell back')
  const whileOpen = fallbacks.filter(l => /while the old breaker (is|was) open/.test(l.msg))
  t.equal(whileOpen.length, 2, 'one line when reads start falling back through the open breaker, one summary')
  t.equal(1 + whileOpen[1]!.count!, READS - oldUp.reads().length, 'counted: every read the open breaker turned away')
  t.match(whileOpen[1]!.msg, new RegExp(`^${whileOpen[1]!.count} reads fell back to new while the old breaker was open`))
  t.equal(lines.filter(l => /breaker for old \(primary\) opened/.test(l.msg)).length, 1, 'the state change is logged once')
})

t.test('writes that cannot be announced while Redis is down are logged as unavailable, counted, and recovered', async t => {
  const migration = redisMigration(t)
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, {
    policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra: `migration: ${migration}` }), stateDir: dir,
    redisUrl: `redis://127.0.0.1:${relay.port}${target.pathname}`,
  })
  const write = async () => {
    const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
    t.equal(res.status, 200, 'the write reaches the authority')
    await res.arrayBuffer()
  }
  await write()
  await relay.cut()
  for (let i = 0; i < 100; i++) await write()
  await eventually(() => sidecar.logs.join(''), l => l.includes('cannot announce a write to the sync loop'))
  await relay.start()
  // Writes go on; once Redis answers again, the first announced write says the stream recovered.
  await eventually(async () => { await write(); return sidecar.logs.join('') }, l => l.includes('change stream recovered'), 10_000)
  const lines = parsed(sidecar.logs).filter(l => /announce|change stream/.test(l.msg))
  t.ok(lines.length <= 4, `${lines.length} lines about a Redis outage of over 100 writes`)
  t.match(lines[0], { msg: /^cannot announce a write to the sync loop/ })
  const recovered = lines.find(l => l.msg.includes('change stream recovered'))!
  t.ok(recovered.total! >= 100, `${recovered.total} writes were not announced`)
  t.equal(recovered.total, 1 + lines.reduce((n, l) => n + (l.count ?? 0), 0), 'the summaries account for every one of them')
})

t.test('with Redis never reachable, writes are refused (the authority is unknown) and that is said once, not per write', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir, redisUrl: `redis://127.0.0.1:${await refusedPort()}` })
  const statuses = new Set<number>()
  for (let i = 0; i < 50; i++) {
    const res = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
    statuses.add(res.status)
    await res.arrayBuffer()
  }
  t.same([...statuses], [503])
  await sidecar.stop()
  const lines = parsed(sidecar.logs).filter(l => /write authority|announce/.test(l.msg))
  t.equal(lines.length, 1, `one line for 50 refused writes: ${lines.map(l => l.msg).join(' | ')}`)
})
