// The cutover store's contract, run against Redis and against memory (the embedded mode).
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryCutoverStore } from '../../src/cutover/memory-store.ts'
import { RedisCutoverStore } from '../../src/cutover/redis-store.ts'
import { initialState, type CutoverState } from '../../src/cutover/state.ts'
import type { CutoverStore } from '../../src/cutover/store.ts'
import { keyPrefix } from '../../src/state/redis/connect.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

function contract(t: Test, open: () => Promise<CutoverStore>) {
  t.test('a new migration starts from the authority given first; later calls keep it', async t => {
    const store = await open()
    t.equal(await store.read(), undefined)
    t.same(await store.initialize('new'), initialState('new'))
    t.same(await store.initialize('old'), initialState('new'), 'never overwritten')
    t.same(await store.read(), initialState('new'))
  })

  t.test('replicas check in, are listed while recent, and leave', async t => {
    const store = await open()
    t.equal(await store.checkIn('a'), undefined, 'checking in before any state reads nothing')
    await store.initialize('old')
    t.same(await store.checkIn('b'), initialState('old'))
    t.same((await store.replicas(60_000)).sort(), ['a', 'b'])
    await store.leave('a')
    t.same(await store.replicas(60_000), ['b'])
  })

  t.test('confirmations are kept per run and phase', async t => {
    const store = await open()
    await store.confirm('r1', 'hold', 'a')
    await store.confirm('r1', 'hold', 'b')
    await store.confirm('r1', 'switch', 'a')
    t.same([...await store.confirmed('r1', 'hold')].sort(), ['a', 'b'])
    t.same([...await store.confirmed('r1', 'switch')], ['a'])
    t.same([...await store.confirmed('r2', 'hold')], [])
  })

  t.test('a transition writes only over the state it expects, and only before its deadline', async t => {
    const store = await open()
    const steady = await store.initialize('old')
    const now = await store.now()
    const run = { id: 'r1', from: 'old' as const, to: 'new' as const, startedAt: now, deadline: now + 60_000, trigger: 'file' as const }
    const hold: CutoverState = { ...steady, phase: 'hold', run }
    t.equal(await store.transition({ ...steady, epoch: 7 }, hold), false, 'another epoch')
    t.equal(await store.transition(steady, hold), true)
    t.equal(await store.transition(steady, hold), false, 'the state moved on')
    const switched: CutoverState = { epoch: 2, authority: 'new', phase: 'steady' }
    t.equal(await store.transition(hold, switched, { beforeDeadline: now - 1 }), false, 'past the deadline')
    t.same(await store.read(), hold)
    t.equal(await store.transition(hold, switched, { beforeDeadline: run.deadline }), true)
    t.same(await store.read(), switched)
  })

  t.test('a cutover request is stored until cleared', async t => {
    const store = await open()
    t.equal(await store.pendingRequest(), undefined)
    await store.request({ to: 'new', fileAuthority: 'old', at: 1 })
    t.same(await store.pendingRequest(), { to: 'new', fileAuthority: 'old', at: 1 })
    await store.request(undefined)
    t.equal(await store.pendingRequest(), undefined)
  })
}

t.test('the cutover store contract, in Redis', async t => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  contract(t, async () => new RedisCutoverStore(redis, keyPrefix(redisMigration(t, 'cutover-store'))))
})

t.test('the cutover store contract, in memory', async t => {
  contract(t, async () => new MemoryCutoverStore())
})

t.test('a Redis that is away is an error naming what could not be done', async t => {
  const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  t.teardown(() => redis.disconnect())
  const store = new RedisCutoverStore(redis, keyPrefix('nowhere'))
  await t.rejects(store.read(), /cutover state in redis: cannot read the cutover state/)
})

t.test('a switch in memory is made durable before anyone can see it', async t => {
  const seen: Array<CutoverState | undefined> = []
  const store: MemoryCutoverStore = new MemoryCutoverStore({
    clock: () => 1000,
    onSwitch: async next => { seen.push(await store.read(), next) },
  })
  const steady = await store.initialize('old')
  const hold: CutoverState = { ...steady, phase: 'hold', run: { id: 'r', from: 'old', to: 'new', startedAt: 0, deadline: 2000, trigger: 'command' } }
  await store.transition(steady, hold)
  t.same(seen, [], 'no switch yet')
  await store.transition(hold, { epoch: 2, authority: 'new', phase: 'steady' }, { beforeDeadline: 2000 })
  t.same(seen, [hold, { epoch: 2, authority: 'new', phase: 'steady' }], 'the hook ran while readers still saw the hold')
})

t.test('a file state store keeps the authority of the last switch across a restart', async t => {
  const { FileStateStore } = await import('../../src/state/file/state-store.ts')
  const dir = scratchDir(t)
  const first = await FileStateStore.open(dir)
  const steady = await first.cutover.initialize('old')
  const hold: CutoverState = { ...steady, phase: 'hold', run: { id: 'r', from: 'old', to: 'new', startedAt: 0, deadline: Infinity, trigger: 'file' } }
  await first.cutover.transition(steady, hold)
  t.ok(await first.cutover.transition(hold, { epoch: 2, authority: 'new', phase: 'steady' }, { beforeDeadline: Number.MAX_SAFE_INTEGER }))
  await first.close()
  const again = await FileStateStore.open(dir)
  t.match(await again.cutover.read(), { epoch: 2, authority: 'new', phase: 'steady' }, 'a restart never forgets a switch')
  await again.close()
})

t.test('where the cutover stands, before any state exists', async t => {
  const { cutoverReport } = await import('../../src/cutover/request.ts')
  t.same(await cutoverReport(new MemoryCutoverStore(), 'old'), { effective: null, desired: 'old', epoch: null, phase: 'unknown', run: null, lastSwitch: null, lastAbort: null })
})
