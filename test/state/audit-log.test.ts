// The audit log's stores (Redis, the state file, memory) are bounded and newest first, and the
// recorder never fails what it records: a dead store is one warning per outage.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryAuditLog, type AuditEntry } from '../../src/state/audit-log.ts'
import { AuditRecorder } from '../../src/state/audit-recorder.ts'
import { redisAuditLog } from '../../src/state/redis/state-store.ts'
import { connectRedis, keyPrefix, redisReady } from '../../src/state/redis/connect.ts'
import { FileStateStore, STATE_FILE } from '../../src/state/file/state-store.ts'
import { openStateStore } from '../../src/state/open.ts'
import { ConditionLog } from '../../src/telemetry/condition-log.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { refusedPort } from '../helpers/upstream.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

const entry = (n: number): AuditEntry => ({
  at: new Date(n * 1000).toISOString(), event: 'policy-applied', role: 'proxy', replica: 'p1', subject: `generation ${n}`, reason: 'test', detail: { generation: n },
})

t.test('the Redis log keeps the newest entries only, under the migration prefix', async t => {
  const migration = redisMigration(t)
  const store = await openStateStore(REDIS_URL, migration, captureLog().log, { auditLogLimit: 10 })
  t.teardown(() => store.close())
  for (let n = 1; n <= 25; n++) await store.audit.append(entry(n))
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  t.equal(await redis.llen(`${keyPrefix(migration)}audit`), 10, 'the list is capped')
  t.same((await store.audit.recent(3)).map(e => e.subject), ['generation 25', 'generation 24', 'generation 23'], 'newest first')
  t.equal((await store.audit.recent(100)).at(-1)!.subject, 'generation 16', 'the oldest beyond the bound are gone')
  const peer = await openStateStore(REDIS_URL, migration, captureLog().log)
  t.teardown(() => peer.close())
  t.same(await peer.audit.recent(1), [entry(25)], 'every process of the migration reads the same log')
})

t.test('the default Redis bound is 10,000 entries', async t => {
  const migration = redisMigration(t)
  const redis = connectRedis(REDIS_URL, captureLog().log)
  t.teardown(() => redis.disconnect())
  await redisReady(redis)
  const audit = redisAuditLog(redis, keyPrefix(migration))
  await redis.rpush(audit.key, ...Array.from({ length: 10_000 }, (_, i) => JSON.stringify(entry(i))))
  await audit.append(entry(-1))
  t.equal(await redis.llen(audit.key), 10_000)
  t.same(await audit.recent(1), [entry(-1)])
})

t.test('with Redis unreachable, appends and reads reject with the operation named', async t => {
  const redis = connectRedis(`redis://127.0.0.1:${await refusedPort()}`, captureLog().log)
  t.teardown(() => redis.disconnect())
  const audit = redisAuditLog(redis, keyPrefix('nowhere'))
  await t.rejects(audit.append(entry(1)), /audit log in redis: cannot append to it/)
  await t.rejects(audit.recent(1), /audit log in redis: cannot read it/)
})

t.test('the state file keeps its audit log across a restart, bounded, and an older file without one still opens', async t => {
  const dir = scratchDir(t)
  const store = await FileStateStore.open(dir, { auditLogLimit: 3 })
  for (let n = 1; n <= 5; n++) await store.audit.append(entry(n))
  await store.close()
  const saved = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { audit: AuditEntry[] }
  t.same(saved.audit.map(e => e.subject), ['generation 5', 'generation 4', 'generation 3'], 'saved newest first, bounded')
  const again = await FileStateStore.open(dir)
  t.same((await again.audit.recent(10)).map(e => e.subject), ['generation 5', 'generation 4', 'generation 3'])
  await again.close()
  const { audit: _dropped, ...older } = saved
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(older))
  const old = await FileStateStore.open(dir)
  t.same(await old.audit.recent(10), [], 'a state file from before the audit log has an empty one')
  writeFileSync(join(dir, STATE_FILE), JSON.stringify({ ...older, audit: [{ ...entry(1), event: 'made-up' }] }))
  await t.rejects(FileStateStore.open(dir), /does not hold dualread sync state:[^]*audit/)
})

t.test('the memory log is bounded and shows an entry as soon as it is appended', async t => {
  const audit = new MemoryAuditLog({ limit: 2 })
  void audit.append(entry(1))
  t.same(audit.entries.map(e => e.subject), ['generation 1'])
  await audit.append(entry(2))
  await audit.append(entry(3))
  t.same((await audit.recent(5)).map(e => e.subject), ['generation 3', 'generation 2'])
})

t.test('an append that fails is one warning per outage, and what it records goes on', async t => {
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const migration = redisMigration(t)
  const { log, logs } = captureLog()
  const redis = connectRedis(`redis://127.0.0.1:${relay.port}`, log)
  t.teardown(() => redis.disconnect())
  await redisReady(redis)
  const audit = redisAuditLog(redis, keyPrefix(migration))
  const conditions = new ConditionLog(log)
  t.teardown(() => conditions.close())
  const recorder = new AuditRecorder({ audit, role: 'sync', replica: 's1', conditions, clock: () => 86_400_000 })
  t.equal(recorder.record('rollback-set', 'rule acme', 'before', { rule: 'acme' }), undefined, 'the caller gets nothing to wait for')
  await recorder.flush()
  t.match(await audit.recent(1), [{ at: '1970-01-02T00:00:00.000Z', event: 'rollback-set', role: 'sync', replica: 's1', subject: 'rule acme', reason: 'before', detail: { rule: 'acme' } }])

  await relay.cut()
  recorder.record('policy-applied', 'generation 2', 'during')
  recorder.record('policy-applied', 'generation 3', 'during')
  await recorder.flush()
  const warnings = () => logs.filter(l => l.includes('cannot record in the audit log'))
  t.equal(warnings().length, 1, 'one warning for the outage, not one per entry')
  t.match(warnings()[0], /cannot append to it.*"subject":"generation [23]"/)

  await relay.start()
  await redisReady(redis, 8000)
  recorder.record('rollback-cleared', 'every override', 'after')
  await recorder.flush()
  t.ok(logs.some(l => l.includes('1 more audit log entries could not be recorded')), 'the rest of the outage is a count')
  t.ok(logs.some(l => l.includes('audit log recording again; entries lost meanwhile: 2')))
  t.same((await audit.recent(5)).map(e => e.reason), ['after', 'before'], 'entries of the outage are lost, the others kept in order')
})
