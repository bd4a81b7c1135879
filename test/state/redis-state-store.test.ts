import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { connectRedis, keyPrefix, redisReady } from '../../src/state/redis/connect.ts'
import { RedisStateStore } from '../../src/state/redis/state-store.ts'
import { syncKey } from '../../src/state/sync-key.ts'
import { type StateStoreBounds } from '../../src/state/state-store.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'
import { TcpRelay } from '../helpers/tcp-relay.ts'
import { refusedPort } from '../helpers/upstream.ts'
import { stateStoreContract } from './state-store-contract.ts'
import { REDIS_URL } from '../helpers/redis.ts'

/** Redis's default stream-node-max-entries: MAXLEN ~ trims whole nodes. */
const STREAM_NODE_ENTRIES = 100

/** A connected store over `migration`'s keys, closed when `t` ends. */
async function connectStore(t: Test, migration: string, bounds?: StateStoreBounds, url = REDIS_URL): Promise<RedisStateStore> {
  const redis = connectRedis(url, captureLog().log)
  await redisReady(redis)
  const store = new RedisStateStore(redis, keyPrefix(migration), captureLog().log, bounds)
  t.teardown(() => store.close())
  return store
}

/** Every key under the migration's prefix, for the test to check and to delete at teardown. */
async function keysOf(migration: string): Promise<string[]> {
  const redis = connectRedis(REDIS_URL, captureLog().log)
  await redisReady(redis)
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${keyPrefix(migration)}*`, 'COUNT', 1000)
    keys.push(...found)
    cursor = next
  } while (cursor !== '0')
  if (keys.length > 0) await redis.unlink(...keys)
  await redis.quit()
  return keys
}

async function openFresh(t: Test, bounds?: StateStoreBounds) {
  const migration = `test-${randomUUID()}`
  t.teardown(() => keysOf(migration))
  const store = await connectStore(t, migration, bounds)
  const peer = await connectStore(t, migration, bounds)
  return { store, peer, reopen: () => connectStore(t, migration, bounds) }
}

t.test('the state store contract, in Redis', async t => {
  stateStoreContract(t, { open: openFresh, changeStreamSlack: STREAM_NODE_ENTRIES })
})

t.test('every key of a migration stays under its hash-tagged prefix', async t => {
  const migration = `test-${randomUUID()}`
  const store = await connectStore(t, migration)
  const key = syncKey('alert-rule', 'acme', 'r1')
  await store.checkpoints.setCursor('alert-rule/acme', 'c')
  await store.checkpoints.setApplied([[key, 'h']])
  await store.checkpoints.setTombstones([[key, 1]])
  await store.changes.append({ resourceType: 'alert-rule', tenant: 'acme', at: 1 })
  await store.changes.setOffset('1-0')
  await store.conflicts.append({ key, sourceHash: 's', targetHash: 't', winner: 'old', decision: 'upsert', at: 'now' })
  await store.lease.acquire('replica-a', 5_000)
  const keys = await keysOf(migration)
  t.equal(keys.length, 8, keys.join(', '))
  t.ok(keys.every(k => k.startsWith(`dualread:{${migration}}:`)))
})

t.test('with Redis refusing connections every call rejects at once, naming what failed; subscriptions wait', async t => {
  const { logs, log } = captureLog()
  const store = new RedisStateStore(connectRedis(`redis://127.0.0.1:${await refusedPort()}`, log), keyPrefix('unreachable'), log)
  t.teardown(() => store.close())
  const key = syncKey('team', 'acme', 'x')
  const lease = { owner: 'a', token: 1, expiresAt: Date.now() + 1000 }
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['read a cursor', () => store.checkpoints.getCursor('s')],
    ['write a cursor', () => store.checkpoints.setCursor('s', 'c')],
    ['read applied hashes', () => store.checkpoints.getApplied([key])],
    ['write applied hashes', () => store.checkpoints.setApplied([[key, 'h']])],
    ['read tombstones', () => store.checkpoints.getTombstones([key])],
    ['write tombstones', () => store.checkpoints.setTombstones([[key, undefined]])],
    ['append a change', () => store.changes.append({ resourceType: 'team', tenant: 'acme', at: 1 })],
    ['read changes', () => store.changes.read('0', 10)],
    ['read the change offset', () => store.changes.getOffset()],
    ['write the change offset', () => store.changes.setOffset('1-0')],
    ['append a conflict', () => store.conflicts.append({ key, sourceHash: 's', targetHash: 't', winner: 'new', decision: 'delete', at: 'now' })],
    ['read conflicts', () => store.conflicts.recent(1)],
    ['acquire the sync lease', () => store.lease.acquire('a', 1000)],
    ['check the sync lease', () => store.lease.holds(lease)],
    ['release the sync lease', () => store.lease.release(lease)],
    ['publish an applied event', () => store.signals.publishApplied('team', 'acme', 1)],
    ['publish the sync status', () => store.signals.publishStatus('{}', 1000)],
    ['read the sync status', () => store.signals.readStatus()],
  ]
  for (const [what, call] of calls) {
    const started = performance.now()
    await t.rejects(call(), { message: new RegExp(`^sync state in redis: cannot ${what}: `) })
    t.ok(performance.now() - started < 100, `${what}: rejected at once`)
  }
  const started = performance.now()
  const unsubscribe = await store.signals.onApplied(() => undefined)
  t.ok(performance.now() - started < 100, 'a subscription does not wait for Redis')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(logs.filter(l => l.includes('redis subscriber for applied events: connection error')).length, 1, 'its failed attempts are logged once')
  await unsubscribe()
  t.ok(await eventually(() => logs.some(l => l.includes('no subscription to applied events')), Boolean), 'giving up before Redis came is logged')
})

t.test('calls fail while Redis is away and work again once it is back; applied events resume', async t => {
  const migration = `test-${randomUUID()}`
  t.teardown(() => keysOf(migration))
  const target = new URL(REDIS_URL)
  const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 6379) })
  await relay.start()
  t.teardown(() => relay.cut())
  const store = await connectStore(t, migration, {}, `redis://127.0.0.1:${relay.port}${target.pathname}`)
  const other = await connectStore(t, migration)
  const heard: number[] = []
  await store.signals.onApplied((_type, _tenant, upTo) => heard.push(upTo))
  await store.checkpoints.setCursor('team/acme', 'before')

  await relay.cut()
  await t.rejects(store.checkpoints.getCursor('team/acme'), { message: /cannot read a cursor/ })
  const heardSinceOutage: number[] = []
  await store.signals.onApplied((_type, _tenant, upTo) => heardSinceOutage.push(upTo))
  await relay.start()
  t.equal(await eventually(() => store.checkpoints.getCursor('team/acme').catch(() => 'still away'), c => c === 'before', 8000), 'before')
  // Resubscribed, and subscribed for the first time, on their own.
  await eventually(async () => {
    await other.signals.publishApplied('team', 'acme', 7)
    return [heard, heardSinceOutage]
  }, ([h, s]) => h!.includes(7) && s!.includes(7), 8000)
  t.ok(heard.includes(7), 'a listener from before the outage hears applied events again')
  t.ok(heardSinceOutage.includes(7), 'a listener added while Redis was away hears them once it is back')
})
