// The presence cache for referenced objects: one read per object while its answer is fresh,
// shared by concurrent lookups, bounded in entries, expired by age (an injected clock), and an
// answer that could not tell is never kept.
import t from 'tap'
import { ReferenceCache } from '../../src/parity/reference-cache.ts'
import type { Presence } from '../../src/parity/references.ts'

function counting(answer: Presence) {
  const reads: string[] = []
  return { reads, read: (key: string) => async () => { reads.push(key); return answer } }
}

t.test('concurrent and repeated lookups of one object share one read while it is fresh', async t => {
  let now = 5000 // lru-cache treats a start time of 0 as none
  const cache = new ReferenceCache({ ttlMs: 1000, now: () => now })
  const { reads, read } = counting(true)
  t.same(await Promise.all([cache.presence('old /ep/1', read('a')), cache.presence('old /ep/1', read('b'))]), [true, true])
  now = 5999
  t.equal(await cache.presence('old /ep/1', read('c')), true)
  t.same(reads, ['a'], 'one read for three lookups')
  now = 6001
  t.equal(await cache.presence('old /ep/1', read('d')), true)
  t.same(reads, ['a', 'd'], 'read again once the answer is older than the TTL')
})

t.test('absence is remembered too; an answer that could not tell is not', async t => {
  const cache = new ReferenceCache()
  const absent = counting(false)
  t.equal(await cache.presence('new /ep/1', absent.read('a')), false)
  t.equal(await cache.presence('new /ep/1', absent.read('b')), false)
  t.same(absent.reads, ['a'])
  const unknown = counting(undefined)
  t.equal(await cache.presence('new /ep/2', unknown.read('a')), undefined)
  t.equal(await cache.presence('new /ep/2', unknown.read('b')), undefined)
  t.same(unknown.reads, ['a', 'b'])
  t.equal(cache.size, 1)
})

t.test('the cache holds at most max objects, the least recently used going first', async t => {
  const cache = new ReferenceCache({ max: 2 })
  const { reads, read } = counting(true)
  await cache.presence('1', read('1'))
  await cache.presence('2', read('2'))
  await cache.presence('1', read('1 again'))
  await cache.presence('3', read('3'))
  t.equal(cache.size, 2)
  await cache.presence('1', read('1 kept'))
  await cache.presence('2', read('2 evicted'))
  t.same(reads, ['1', '2', '3', '2 evicted'])
})

t.test('fresherThan reads again an answer whose read began earlier, and reuses a later one', async t => {
  let now = 5000
  const cache = new ReferenceCache({ now: () => now })
  const { reads, read } = counting(false)
  await cache.presence('new /ep/1', read('first'))
  now = 6000
  t.equal(await cache.presence('new /ep/1', read('fresh'), 5500), false)
  t.equal(await cache.presence('new /ep/1', read('reused'), 5500), false, 'read at 6000: fresh enough')
  t.equal(await cache.presence('new /ep/2', read('missing'), 5500), false)
  t.same(reads, ['first', 'fresh', 'missing'])
  t.equal(new ReferenceCache().now() > 0, true, 'the default clock is the monotonic one')
})
