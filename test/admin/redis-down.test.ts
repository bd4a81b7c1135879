import t from 'tap'
import { Redis } from 'ioredis'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { writePolicy } from '../helpers/policy.ts'
import { refusedPort, TestUpstream, startPair } from '../helpers/upstream.ts'
import { eventually, startTestSidecar } from '../helpers/sidecar.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('with Redis unreachable the proxy serves, says overrides are stale, and refuses to pretend a rollback was stored', async t => {
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url }), stateDir: dir, redisUrl: `redis://127.0.0.1:${await refusedPort()}` })
  const res = await sidecar.get('/api/v1/tenants/other/alert-rules')
  t.equal(res.status, 200, 'reads are served')
  await res.arrayBuffer()
  const status = await (await fetch(sidecar.adminUrl + '/status')).json() as { overrides: { backend: string, stale: boolean, lastError?: string } }
  t.match(status.overrides, { backend: 'redis', stale: true, lastError: String })
  const rollback = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: '{"rule":"default"}' })
  t.equal(rollback.status, 503, 'Redis being down is not a bad request')
  t.match(await rollback.json(), { error: 'unavailable', detail: /cannot store the override: .*retry once Redis answers/ })
  t.ok(sidecar.logs.some(l => l.includes('cannot read rollback overrides from redis')))
  // The fleet may have switched its write authority meanwhile: never guessed from the file.
  const write = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/r1', { method: 'PUT', body: '{}' })
  t.equal(write.status, 503, 'a proxy that never reached the state store refuses writes')
  t.equal(write.headers.get('retry-after'), '1')
  t.match(await write.json(), { error: 'write_held', detail: /write authority is not known yet.*not sent anywhere/ })
  t.equal(oldUp.received.filter(r => r.method === 'PUT').length + newUp.received.filter(r => r.method === 'PUT').length, 0, 'neither store saw it')
})

t.test('an override written by hand in Redis is still honoured', async t => {
  const migration = redisMigration(t)
  const redis = new Redis(REDIS_URL)
  const key = `${keyPrefix(migration)}overrides`
  t.teardown(async () => { await redis.del(key); redis.disconnect() })
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra: `migration: ${migration}` }), stateDir: dir, redisUrl: REDIS_URL })
  await redis.hset(key, 'acme-on-new', 'set by hand', 'default', '{}')
  const reason = async () => {
    const res = await sidecar.get('/api/v1/tenants/acme/alert-rules')
    await res.arrayBuffer()
    return res.headers.get('x-dualread-reason')
  }
  t.equal(await eventually(reason, r => r === 'rollback'), 'rollback')
  const status = await (await fetch(sidecar.adminUrl + '/status')).json() as { overrides: { entries: Record<string, { reason: string }> } }
  t.equal(status.overrides.entries['acme-on-new']?.reason, 'set by hand')
  t.same(status.overrides.entries['default'], { since: 'undefined', reason: 'undefined' }, 'a JSON entry without fields still counts')
  const all = await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: '{"all":true,"reason":"everything"}' })
  t.equal(all.status, 200)
  t.equal(JSON.parse(String(await redis.hget(key, '*'))).reason, 'everything', '--all is stored in Redis as "*"')
})

t.test('overrides survive a Redis outage and are current again once it returns', async t => {
  const migration = redisMigration(t)
  const redis = new Redis(REDIS_URL)
  const key = `${keyPrefix(migration)}overrides`
  t.teardown(async () => { await redis.del(key); redis.disconnect() })
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const { oldUp, newUp } = await startPair(t)
  const dir = scratchDir(t)
  const sidecar = await startTestSidecar(t, { policyFile: writePolicy(dir, { oldUrl: oldUp.url, newUrl: newUp.url, extra: `migration: ${migration}` }), stateDir: dir, redisUrl: `redis://127.0.0.1:${relay.port}${target.pathname}` })
  await fetch(sidecar.adminUrl + '/rollback', { method: 'POST', body: '{"rule":"acme-on-new"}' })
  const reason = async () => {
    const res = await sidecar.get('/api/v1/tenants/acme/alert-rules')
    await res.arrayBuffer()
    return res.headers.get('x-dualread-reason')
  }
  t.equal(await reason(), 'rollback')
  const status = async () => (await (await fetch(sidecar.adminUrl + '/status')).json() as { overrides: { stale: boolean } }).overrides.stale

  await relay.cut()
  t.equal(await eventually(status, stale => stale), true, 'stale while Redis is away')
  t.equal(await reason(), 'rollback', 'the last known override stays in force')
  await redis.hdel(key, 'acme-on-new') // cleared by another replica meanwhile
  // A short outage: the authority confirmed a moment ago still takes writes; their announcements wait.
  const write = await fetch(sidecar.proxyUrl + '/api/v1/tenants/acme/alert-rules/during-outage', { method: 'PUT', body: '{}' })
  t.equal(write.status, 200, 'writes go on to the last confirmed authority')
  await eventually(() => sidecar.logs.join(''), l => l.includes('cannot announce writes to the sync loop; retrying'))

  await relay.start()
  t.equal(await eventually(status, stale => !stale, 8000), false, 'current again once Redis answers')
  t.equal(await eventually(reason, r => r === 'rule'), 'rule', 'and the change made meanwhile is obeyed')
  t.ok(sidecar.logs.some(l => l.includes('redis is answering again')))
  const announced = async () => (await redis.xrange(`${keyPrefix(migration)}sync:changes`, '-', '+')).map(([, f]) => f.join(' '))
  t.match(await eventually(announced, c => c.some(f => f.includes('during-outage')), 8000), [/id during-outage/], 'the write made during the outage reaches the change stream once Redis is back')
  t.teardown(() => redis.del(`${keyPrefix(migration)}sync:changes`, `${keyPrefix(migration)}cutover:state`, `${keyPrefix(migration)}cutover:replicas`))
})
