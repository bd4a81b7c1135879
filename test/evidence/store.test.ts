// The evidence stores, Redis and memory, keep the same buckets: every replica adds to them, reads
// sum them, and they expire. The recorder sends its counts once and keeps them while Redis is away.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { addObservation, type Fields } from '../../src/evidence/counts.ts'
import { BUCKET_MS } from '../../src/evidence/judge.ts'
import { MemoryEvidenceStore } from '../../src/evidence/memory-store.ts'
import { EvidenceRecorder } from '../../src/evidence/recorder.ts'
import { RedisEvidenceStore } from '../../src/evidence/redis-store.ts'
import { BUCKET_RETENTION_MS, HOUR_MS, type EvidenceStore } from '../../src/evidence/store.ts'
import { connectRedis, keyPrefix } from '../../src/state/redis/connect.ts'
import { policyWith } from '../policy/fixtures.ts'
import { redisMigration, REDIS_URL } from '../helpers/redis.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { refusedPort } from '../helpers/upstream.ts'

const T0 = 1_000 * HOUR_MS
const fields = (n: number, outcome: 'match' | 'critical' = 'match'): Fields => {
  const f: Fields = new Map()
  for (let i = 0; i < n; i++) addObservation(f, { rule: 'acme', resourceType: 'team', outcome })
  return f
}

const stores: Array<[string, (t: Test) => Promise<EvidenceStore>]> = [
  ['memory', async () => new MemoryEvidenceStore(() => T0)],
  ['redis', async t => {
    const redis = new Redis(REDIS_URL)
    t.teardown(() => redis.disconnect())
    return new RedisEvidenceStore(redis, keyPrefix(redisMigration(t)))
  }],
]

for (const [kind, open] of stores) {
  t.test(`${kind}: replicas add to shared buckets; reads sum them and say who added`, async t => {
    const store = await open(t)
    await store.add('a', [{ at: T0, fields: fields(2) }, { at: T0 + BUCKET_MS, fields: fields(1, 'critical') }], 30)
    await store.add('b', [{ at: T0, fields: fields(3) }], 30)
    const window = await store.window(T0 - BUCKET_MS, T0 + 2 * BUCKET_MS)
    t.same(window.map(b => [b.at, Object.fromEntries(b.fields), b.replicas.sort()]), [
      [T0, { 'acme\u0000team\u0000match': 5 }, ['a', 'b']],
      [T0 + BUCKET_MS, { 'acme\u0000team\u0000critical': 1 }, ['a']],
    ])
    t.same(await store.window(T0 + 2 * BUCKET_MS, T0 + 3 * BUCKET_MS), [], 'an empty bucket is left out')
    const hours = await store.hours(T0 - HOUR_MS, T0 + HOUR_MS)
    t.same(hours.map(h => [h.at, Object.fromEntries(h.fields)]), [[T0, { 'acme\u0000team\u0000match': 5, 'acme\u0000team\u0000critical': 1 }]], 'the hour holds both buckets')
    t.same(await store.hours(T0 + HOUR_MS, T0 + 2 * HOUR_MS), [])
  })
}

t.test('redis: buckets expire (10 s ones after 6 h, hours after retentionDays)', async t => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = keyPrefix(redisMigration(t))
  const store = new RedisEvidenceStore(redis, prefix)
  const at = Date.now()
  await store.add('a', [{ at, fields: fields(1) }], 2)
  const bucketTtl = await redis.pttl(`${prefix}evidence:10s:${Math.floor(at / BUCKET_MS)}`)
  const hourTtl = await redis.pttl(`${prefix}evidence:1h:${Math.floor(at / HOUR_MS)}`)
  t.ok(bucketTtl > BUCKET_RETENTION_MS - 60_000 && bucketTtl <= BUCKET_RETENTION_MS, `bucket ttl ${bucketTtl}`)
  t.ok(hourTtl > 2 * 24 * HOUR_MS - 60_000 && hourTtl <= 2 * 24 * HOUR_MS, `hour ttl ${hourTtl}`)
})

t.test('redis: a key of the wrong type is an error naming what failed, not a wrong count', async t => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = keyPrefix(redisMigration(t))
  const store = new RedisEvidenceStore(redis, prefix)
  await redis.set(`${prefix}evidence:10s:${T0 / BUCKET_MS}`, 'not a hash')
  await t.rejects(store.add('a', [{ at: T0, fields: fields(1) }], 30), { message: /^evidence in redis: cannot add the replica's counts: WRONGTYPE/ })
  await t.rejects(store.window(T0, T0 + BUCKET_MS), { message: /^evidence in redis: cannot read the fleet's buckets: WRONGTYPE/ })
  await redis.set(`${prefix}evidence:1h:${T0 / HOUR_MS}`, 'not a hash')
  await t.rejects(store.hours(T0, T0 + HOUR_MS), { message: /^evidence in redis: cannot read the fleet's hours: WRONGTYPE/ })
})

t.test('memory: old buckets and hours are forgotten', async t => {
  let now = T0
  const store = new MemoryEvidenceStore(() => now)
  await store.add('a', [{ at: T0, fields: fields(1) }], 1)
  now = T0 + 2 * 24 * HOUR_MS
  await store.add('a', [{ at: now, fields: fields(1) }], 1)
  t.same(await store.window(T0 - 1, T0 + 1), [])
  t.same((await store.hours(0, now + HOUR_MS)).map(h => h.at), [now])
})

t.test('a recorder keeps its counts while Redis is away, judges on its own meanwhile, and sends them once back', async t => {
  const port = await refusedPort()
  const { log, logs } = captureLog()
  const dead = connectRedis(`redis://127.0.0.1:${port}`, log)
  t.teardown(() => dead.disconnect())
  const live = new Redis(REDIS_URL)
  t.teardown(() => live.disconnect())
  const prefix = keyPrefix(redisMigration(t))
  let store: EvidenceStore = new RedisEvidenceStore(dead, prefix)
  const now = Date.now()
  const policy = policyWith({})
  const recorder = new EvidenceRecorder({ store: { kind: 'redis', add: (...a) => store.add(...a), window: (...a) => store.window(...a), hours: (...a) => store.hours(...a) }, replica: 'r1', log, policy: () => policy, clock: () => now })
  for (let i = 0; i < 4; i++) recorder.observe({ rule: 'default', resourceType: 'team', outcome: 'match' })
  await recorder.tick()
  t.match(recorder.snapshot, { replicas: 1, unavailable: /evidence in redis: cannot read the fleet's buckets.*showing this replica's own comparisons/ })
  t.same(Object.fromEntries(recorder.snapshot.buckets[0]!.fields), { 'default\u0000team\u0000match': 4 }, 'its own counts, while the store is away')
  t.ok(logs.some(l => l.includes('cannot add this replica\'s comparison counts')))
  // One more counted while an attempt is under way: kept with what that attempt fails to send.
  const attempt = recorder.tick()
  recorder.observe({ rule: 'default', resourceType: 'team', outcome: 'match' })
  await attempt
  await recorder.tick()
  t.same(Object.fromEntries(recorder.snapshot.buckets[0]!.fields), { 'default\u0000team\u0000match': 5 }, 'counted once each, though sent three times in vain')
  store = new RedisEvidenceStore(live, prefix)
  await recorder.tick()
  t.equal(recorder.snapshot.unavailable, undefined)
  t.same(Object.fromEntries(recorder.snapshot.buckets[0]!.fields), { 'default\u0000team\u0000match': 5 }, 'what waited reached the store, once')
  await recorder.close()
  t.ok(logs.some(l => l.includes('evidence store answers again')))
})

t.test('a recorder keeps at most an hour of unsent buckets, the newest', async t => {
  let now = T0
  const sent: number[] = []
  const store = new MemoryEvidenceStore(() => now)
  const recording: EvidenceStore = { kind: 'memory', add: async (replica, buckets, days) => { sent.push(...buckets.map(b => b.at)); await store.add(replica, buckets, days) }, window: (...a) => store.window(...a), hours: (...a) => store.hours(...a) }
  const recorder = new EvidenceRecorder({ store: recording, replica: 'r1', log: captureLog().log, policy: () => policyWith({}), clock: () => now })
  for (let i = 0; i < 400; i++) {
    now = T0 + i * BUCKET_MS
    recorder.observe({ rule: 'default', resourceType: 'team', outcome: 'match' })
  }
  await recorder.tick()
  t.equal(sent.length, 360, 'an hour of 10 s buckets')
  t.equal(sent[0], T0 + 40 * BUCKET_MS, 'the oldest were dropped')
})

t.test('decommission waits for enough clean hours in a row across every slice', async t => {
  let now = T0 + 5 * HOUR_MS + 1
  const store = new MemoryEvidenceStore(() => now)
  let policy = policyWith({ evidence: { decommissionAfterHours: 3 } } as never)
  const recorder = new EvidenceRecorder({ store, replica: 'r1', log: captureLog().log, policy: () => policy, clock: () => now })
  t.match(recorder.decommission(policy), { ready: false, cleanHours: 0, neededHours: 3, reason: /streak stops at .*: no comparisons/ })
  // Hours 1..4 clean, hour 0 had a critical difference.
  await store.add('r1', [{ at: T0, fields: fields(1, 'critical') }], 30)
  for (let h = 1; h <= 4; h++) await store.add('r1', [{ at: T0 + h * HOUR_MS, fields: fields(30) }], 30)
  await recorder.tick()
  t.match(recorder.decommission(policy), { ready: true, cleanHours: 3 })
  policy = policyWith({ evidence: { decommissionAfterHours: 5 } } as never)
  now += 61_000 // the hours are read again once a minute
  await recorder.tick()
  t.match(recorder.decommission(policy), { ready: false, cleanHours: 4, reason: /4 of 5 clean hours in a row; the streak stops at .*T\d\d:00Z: 1 critical on team \(rule acme\)/ })
  policy = policyWith({ gates: { matchRate: { min: 1 } }, rules: [{ name: 'acme', primary: 'old' }], evidence: { decommissionAfterHours: 2 } } as never)
  now += HOUR_MS
  await store.add('r1', [{ at: T0 + 5 * HOUR_MS, fields: new Map([...fields(25), ['acme\u0000team\u0000cosmetic', 5]]) }], 30)
  await recorder.close()
  t.match(recorder.decommission(policy), { ready: false, cleanHours: 0, reason: /match rate 83\.3% under 100\.0%/ }, 'a failing gate signal makes an hour unclean')
})

t.test('an hour with only failed reads is not clean: it has no comparisons', async t => {
  const now = T0 + HOUR_MS + 1
  const store = new MemoryEvidenceStore(() => now)
  const failedOnly: Fields = new Map()
  addObservation(failedOnly, { rule: 'acme', resourceType: 'team', failed: ['new'] })
  await store.add('r1', [{ at: T0, fields: failedOnly }], 30)
  const policy = policyWith({ evidence: { decommissionAfterHours: 1 } } as never)
  const recorder = new EvidenceRecorder({ store, replica: 'r1', log: captureLog().log, policy: () => policy, clock: () => now })
  await recorder.tick()
  t.match(recorder.decommission(policy), { ready: false, cleanHours: 0, reason: /T\d\d:00Z: no comparisons$/ })
})

t.test('a tick asked for while one runs runs once more after it, not alongside it', async t => {
  const now = T0
  const store = new MemoryEvidenceStore(() => now)
  let reads = 0
  let concurrent = 0
  let most = 0
  const counting: EvidenceStore = {
    kind: 'memory',
    add: (...a) => store.add(...a),
    window: async (...a) => {
      reads++
      most = Math.max(most, ++concurrent)
      await new Promise(r => setImmediate(r))
      concurrent--
      return store.window(...a)
    },
    hours: (...a) => store.hours(...a),
  }
  const recorder = new EvidenceRecorder({ store: counting, replica: 'r1', log: captureLog().log, policy: () => policyWith({}), clock: () => now })
  const first = recorder.tick()
  recorder.observe({ rule: 'default', resourceType: 'team', outcome: 'match' })
  const second = recorder.tick()
  const third = recorder.tick()
  await Promise.all([first, second, third])
  t.equal(reads, 2, 'the two asked for meanwhile are one more pass')
  t.equal(most, 1, 'never two at once')
  t.same(Object.fromEntries(recorder.snapshot.buckets[0]!.fields), { 'default\u0000team\u0000match': 1 }, 'the later pass sent what was counted meanwhile')
})
