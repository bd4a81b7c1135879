// Links to objects whose stores assign their own ids, translated through an id map: which values
// are links, what they become, and what is left as it was.
import t from 'tap'
import { LinkTranslator } from '../../src/parity/link-translation.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import type { Side } from '../../src/policy/schema.ts'

const write = 'write: { create: { method: POST, path: collection } }'
const policy = (() => {
  const r = parsePolicy(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - { name: default, primary: old }
resources:
  - { type: ep, collection: /t/:tenant/eps, item: "/t/:tenant/eps/:id", naturalKey: [/name], ${write} }
  - { type: team, collection: /teams, item: "/teams/:id", naturalKey: [/name], ${write} }
  - { type: cp, collection: /t/:tenant/cps, item: "/t/:tenant/cps/:id" }
  - type: rule
    collection: /t/:tenant/rules
    item: "/t/:tenant/rules/:id"
    list: { items: /items }
    references: { /ep: ep, /fallbacks/*: ep, /steps/*/team: team, /first/0: ep, /cp: cp }
`, 'policy.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.policy
})()

/** An id map of pairs (old id ↔ new id) by type and tenant, counting what it is asked. */
function idMap(pairs: Array<[type: string, tenant: string, old: string, neu: string]>) {
  const asked: string[] = []
  return {
    asked,
    async otherId(wanted: Side, type: string, tenant: string, id: string) {
      asked.push(`${wanted} ${type} ${tenant} ${id}`)
      const pair = pairs.find(p => p[0] === type && p[1] === tenant && p[wanted === 'new' ? 2 : 3] === id)
      return pair?.[wanted === 'new' ? 3 : 2]
    },
  }
}

const links = new LinkTranslator(policy)

t.test('only resources linking to a natural-key type translate; the others are given back as they are', async t => {
  t.ok(links.translates('rule'))
  t.notOk(links.translates('ep'))
  const doc = { name: 'x' }
  const ids = idMap([])
  t.equal((await links.translate('ep', 'item', doc, 'acme', 'new', ids)).doc, doc)
  t.same(ids.asked, [])
})

t.test('every link to a natural-key type becomes the other store\'s id; the document itself is not changed', async t => {
  const ids = idMap([['ep', 'acme', 'ep-1', 'n1'], ['ep', 'acme', 'ep-2', 'n2'], ['team', '', 't-1', 'nt1'], ['ep', 'acme', '7', '42'], ['ep', 'acme', '8', 'x8']])
  const doc = {
    ep: 'ep-1', fallbacks: ['ep-2', 'ep-1', '', null, true], steps: { a: { team: 't-1' }, b: { team: 'missing' }, c: 3 },
    first: ['7', 'ep-2'], cp: 'cp-1', other: 'ep-1',
  }
  const before = structuredClone(doc)
  const r = await links.translate('rule', 'item', doc, 'acme', 'new', ids)
  t.same(r.doc, {
    ep: 'n1', fallbacks: ['n2', 'n1', '', null, true], steps: { a: { team: 'nt1' }, b: { team: 'missing' }, c: 3 },
    first: ['42', 'ep-2'], cp: 'cp-1', other: 'ep-1',
  }, 'a link to a type both stores name alike (cp), and what is no link, stay')
  t.same(r.unpaired, [{ type: 'team', id: 'missing', pointer: '/steps/*/team' }])
  t.same(doc, before)
  t.ok(ids.asked.includes('new team  t-1'), 'a type without a tenant is paired without one')
  t.equal(ids.asked.filter(a => a === 'new ep acme ep-1').length, 1, 'one question per object')
  const numbers = await links.translate('rule', 'item', { ep: 7, fallbacks: [8] }, 'acme', 'new', ids)
  t.same(numbers.doc, { ep: 42, fallbacks: ['x8'] }, 'a number stays a number when its partner id is one')
  t.same((await links.translate('rule', 'item', { ep: 'n2' }, 'acme', 'old', ids)).doc, { ep: 'ep-2' }, 'and the other way round')
  t.same((await links.translate('rule', 'item', { steps: [{ team: 't-1' }], ep: 'ep-1' }, undefined, 'new', ids)), { doc: { steps: [{ team: 'nt1' }], ep: 'ep-1' }, unpaired: [{ type: 'ep', id: 'ep-1', pointer: '/ep' }] }, 'no tenant: a tenant-scoped type is looked up without one')
})

t.test('a list page translates each item; a page without its item list, or an item without links, is given back as it is', async t => {
  const ids = idMap([['ep', 'acme', 'ep-1', 'n1']])
  t.same((await links.translate('rule', 'collection', { items: [{ ep: 'ep-1' }, { ep: 'ep-1', fallbacks: {} }, 'odd'] }, 'acme', 'new', ids)).doc, { items: [{ ep: 'n1' }, { ep: 'n1', fallbacks: {} }, 'odd'] })
  const array = ['ep-1']
  t.equal((await links.translate('rule', 'item', array, 'acme', 'new', ids)).doc, array, 'a key on an array is no index')
  for (const page of [{ items: 'none' }, { items: [{ name: 'no link' }] }, [{ ep: 'ep-1' }]]) {
    t.equal((await links.translate('rule', 'collection', page, 'acme', 'new', ids)).doc, page)
  }
  const item = { ep: 'ep-1', fallbacks: { a: 'ep-1' }, first: { 0: 'ep-1' } }
  t.same((await links.translate('rule', 'item', item, 'acme', 'new', ids)).doc, { ep: 'n1', fallbacks: { a: 'n1' }, first: { 0: 'n1' } }, '`*` matches object values; an index segment, an object key')
  const hostile = (await links.translate('rule', 'item', JSON.parse('{"fallbacks":{"__proto__":"ep-1"}}'), 'acme', 'new', ids)).doc as { fallbacks: object }
  t.equal(Object.getPrototypeOf(hostile.fallbacks), Object.prototype, 'a key named __proto__ is data: the prototype is not replaced')
  t.same(Object.getOwnPropertyDescriptor(hostile.fallbacks, '__proto__')?.value, 'n1')
})
