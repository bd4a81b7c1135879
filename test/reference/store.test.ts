// The store on its own, without HTTP: versions, frozen objects, counts, and writes that reach
// readers of the `visible` view only after their lag.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ReferenceStore } from '../../src/reference/store.ts'

const ids = (page: { items: Array<{ id: string }> }) => page.items.map(item => item.id)

t.test('objects are copied in and frozen: neither the caller nor a reader can change a stored one', async t => {
  const store = new ReferenceStore()
  const body = { name: 'cpu', receivers: [{ name: 'pager' }] }
  const stored = store.put('alert-rule', 'acme', 'r1', body)
  body.receivers[0]!.name = 'changed'
  t.equal(store.get('alert-rule', 'acme', 'r1')?.['receivers'], stored['receivers'])
  t.same(stored['receivers'], [{ name: 'pager' }])
  t.throws(() => { (stored['receivers'] as Array<{ name: string }>)[0]!.name = 'x' }, TypeError)
  t.same(Object.keys(stored), ['id', 'tenant', 'name', 'receivers', 'version', 'updatedAt'])
})

t.test('preview shows what put would store without storing it', async t => {
  const store = new ReferenceStore()
  store.put('team', 'acme', 't1', { members: ['alice'] }, { updatedAt: 0 })
  t.match(store.preview('team', 'acme', 't1', { members: [] }), { id: 't1', version: 2, members: [] })
  t.equal(store.get('team', 'acme', 't1')?.version, 1)
  t.equal(store.get('team', 'acme', 't1')?.updatedAt, '1970-01-01T00:00:00.000Z')
})

t.test('lists page in id order; counts and the snapshot cover every type and tenant', async t => {
  const store = new ReferenceStore()
  for (const id of ['c', 'a', 'b', 'd']) store.put('route', 'acme', id, {})
  store.put('route', 'globex', 'a', {})
  store.put('team', 'acme', 'a', {})
  t.same(ids(store.list('route', 'acme')), ['a', 'b', 'c', 'd'])
  t.same(store.list('route', 'acme', { after: 'a', limit: 2 }), { items: [store.get('route', 'acme', 'b'), store.get('route', 'acme', 'c')], more: true })
  t.same(ids(store.list('route', 'acme', { after: 'bb', limit: 2 })), ['c', 'd'], 'after an id that is not there')
  t.same(store.list('route', 'acme', { after: 'c', limit: 1 }).more, false)
  t.same(store.list('route', 'nobody'), { items: [], more: false })
  t.same([store.count(), store.count('route'), store.count('route', 'acme'), store.count(undefined, 'acme'), store.count('team', 'globex')], [6, 5, 4, 5, 0])
  t.same(Object.keys(store.snapshot()).sort(), ['route/acme/a', 'route/acme/b', 'route/acme/c', 'route/acme/d', 'route/globex/a', 'team/acme/a'])
  t.equal(store.delete('route', 'acme', 'zz'), false)
  t.ok(store.delete('route', 'acme', 'b'))
  t.same(ids(store.list('route', 'acme')), ['a', 'c', 'd'])
  t.same(store.tenants({ after: 'acme' }), { items: ['globex'], more: false })
})

t.test('a lagging write is hidden from visible reads until its lag passes; latest reads see it at once', async t => {
  const store = new ReferenceStore()
  store.put('alert-rule', 'acme', 'old', { n: 1 })
  store.put('alert-rule', 'acme', 'gone', { n: 1 })
  store.put('alert-rule', 'acme', 'new', { n: 1 }, { lagMs: 150 })
  store.put('alert-rule', 'acme', 'old', { n: 2 }, { lagMs: 150 })
  store.delete('alert-rule', 'acme', 'gone', { lagMs: 150 })
  const visible = () => store.list('alert-rule', 'acme', { view: 'visible' }).items.map(o => `${o.id}:${o['n']}`)

  t.same(visible(), ['gone:1', 'old:1'], 'readers see the state before the writes')
  t.equal(store.get('alert-rule', 'acme', 'new', 'visible'), undefined)
  t.same(ids(store.list('alert-rule', 'acme')), ['new', 'old'], 'the latest view is the truth')
  t.equal(store.get('alert-rule', 'acme', 'old')?.['n'], 2)
  t.equal(store.count(), 2)

  await sleep(200)
  t.same(visible(), ['new:1', 'old:2'], 'after the lag they see every write')
  t.equal(store.get('alert-rule', 'acme', 'gone', 'visible'), undefined)
})

t.test('writes to one object become visible in order, each after its own lag', async t => {
  const store = new ReferenceStore()
  store.put('team', 'acme', 't1', { n: 1 }, { lagMs: 300 })
  store.put('team', 'acme', 't1', { n: 2 }, { lagMs: 900 })
  store.put('team', 'acme', 't1', { n: 3 }, { lagMs: 50 })
  const seen = () => store.get('team', 'acme', 't1', 'visible')?.['n']
  t.equal(seen(), undefined)
  await sleep(600)
  t.equal(seen(), 1, 'the first write after 300 ms')
  await sleep(450)
  t.equal(seen(), 3, 'the second after 900 ms, and the third not before it')
  t.equal(store.get('team', 'acme', 't1')?.version, 3)
})

t.test('a write without lag supersedes lagging ones at once', async t => {
  const store = new ReferenceStore()
  store.put('team', 'acme', 't1', { n: 1 }, { lagMs: 10_000 })
  store.delete('team', 'acme', 't1', { lagMs: 10_000 })
  t.equal(store.get('team', 'acme', 't1', 'visible'), undefined)
  store.put('team', 'acme', 't1', { n: 2 })
  t.equal(store.get('team', 'acme', 't1', 'visible')?.['n'], 2)
  store.delete('team', 'acme', 't1')
  t.same(store.list('team', 'acme', { view: 'visible' }).items, [])
  t.same(store.tenants().items, [])
})
