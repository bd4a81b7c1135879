// Write styles and natural keys as `policy check` sees them (problems at the key, with a fix, and
// each style described), and the pure pieces the sync and the shadow stage build on them.
import t from 'tap'
import { parsePolicy } from '../../src/policy/parse.ts'
import { describeShape } from '../../src/policy/shape.ts'
import { explainRequest } from '../../src/cli/explain.ts'
import { compilePolicy } from '../../src/policy/compile.ts'
import { compareDocuments, compilePlan } from '../../src/parity/compare.ts'
import { pathForSide } from '../../src/parity/id-translation.ts'
import { storeIdOf, withStoreId } from '../../src/sync/store-ids.ts'
import { validPolicy } from './fixtures.ts'

const HEAD = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
rules:
  - name: default
    primary: old
resources:
`

function errors(resources: string): string[] {
  const result = parsePolicy(HEAD + resources, 'policy.yaml')
  return result.ok ? [] : result.errors.map(e => `${e.key}: ${e.message} (fix: ${e.fix})`)
}

t.test('impossible write styles and natural keys are errors at their key, with a fix', async t => {
  t.same(errors('  - { type: a, collection: /a, item: "/a/:id", naturalKey: [/name], write: { create: { method: POST, path: collection, idFrom: /id } } }\n'), [])
  t.match(errors('  - { type: a, singleton: /a, write: { update: { method: POST, path: collection } } }\n'), [/resources\[0\]\.write\.update\.path: update goes to the collection, and this resource has no collection path/])
  t.match(errors('  - { type: a, collection: /a, item: "/a/:id", write: { create: { method: POST, path: collection, idFrom: /x } } }\n'), [
    /resources\[0\]\.write\.create\.idFrom: idFrom reads the id a store gave an object, and without naturalKey/,
  ])
  t.match(errors('  - { type: a, singleton: /a, naturalKey: [/name] }\n'), [/resources\[0\]\.naturalKey: a singleton is one document: there is nothing to pair/])
  t.match(errors('  - { type: a, collection: /r, item: "/f/:folder/r/:id", params: { folder: /f }, naturalKey: [/name] }\n'), [/resources\[0\]\.naturalKey: with a natural key, an object is addressed by the id its store gave it/])
  t.match(errors('  - { type: a, collection: /a, item: "/a/:id", naturalKey: [/name, /id], compare: { ignore: [/name] } }\n'), [
    /resources\[0\]\.naturalKey\[0\]: \/name is ignored by compare/,
    /resources\[0\]\.naturalKey\[1\]: \/id is the id, which each store assigns on its own/,
  ])
  t.match(errors('  - { type: a, collection: /a, item: "/a/:id", write: { delete: { method: GET } } }\n'), [/write\.delete: expected \{ method: DELETE, path: item \} or false/])
})

t.test('policy check describes each write style: creates, updates, deletes and the ids', async t => {
  const policy = validPolicy(`${HEAD}  - { type: a, collection: /a, item: "/a/:id", naturalKey: [/name], write: { create: { method: POST, path: collection, idFrom: /newId }, update: { method: POST, path: collection, idFrom: /newId } } }
  - { type: b, collection: /b, item: "/b/:id", naturalKey: [/name], write: { update: { method: POST, path: collection }, delete: false } }
  - { type: c, collection: /c, item: "/c/:id", write: { create: { method: POST, path: collection }, update: { method: POST, path: collection } } }
`)
  t.same(describeShape(policy.resources[0]!, policy).slice(-4), [
    'sync:   create: POST collection (no id in the body; the new id is read at /newId of the answer)',
    'sync:   update: POST collection (the target\'s id in the body at /id; a new id in the answer at /newId is kept)',
    'sync:   delete: DELETE item',
    'sync:   ids: assigned by each store; objects paired by /name, the id map kept in sync.state, /id not compared',
  ])
  t.same(describeShape(policy.resources[1]!, policy).slice(-4), [
    'sync:   create: PUT item at the source\'s id',
    'sync:   update: POST collection (the target\'s id in the body at /id; a new id in the answer at /id is kept)',
    'sync:   delete: never (write.delete: false)',
    'sync:   ids: assigned by each store; objects paired by /name, the id map kept in sync.state, /id not compared',
  ])
  t.same(describeShape(policy.resources[2]!, policy).slice(-3), ['sync:   create: POST collection (the id in the body)', 'sync:   update: POST collection (the target\'s id in the body at /id)', 'sync:   delete: DELETE item'], 'a store that keeps the id a POST carries')
  const compiled = compilePolicy(policy, 'h')
  t.match(explainRequest(compiled, { method: 'GET', path: '/a/x1', headers: {} }).join('\n'), /one object, compared whole; the shadow read asks the other store for its own id of the object \(the sync's id map\), and \/id is not compared/)
  t.match(explainRequest(compiled, { method: 'GET', path: '/a', headers: {} }).join('\n'), /matched by \/name \(natural key; \/id not compared\)/)
})

t.test('lists are compared by natural key with the ids left out; an item without its natural key is an error', async t => {
  const policy = validPolicy(`${HEAD}  - { type: a, collection: /a, item: "/a/:id", list: { items: "" }, naturalKey: [/name], absentWhen: { /state: [expired] } }\n`)
  t.match(describeShape(policy.resources[0]!, policy), ['collection + item', /matched by \/name$/, 'absent: items whose /state is "expired" (absentWhen): not compared, not synced'])
  const two = validPolicy(`${HEAD}  - { type: a, collection: /a, absentWhen: { /state: [expired, 0], /gone: [true] } }\n`)
  t.match(describeShape(two.resources[0]!, two), [String, String, 'absent: items whose /state is "expired" or 0, or whose /gone is true (absentWhen): not compared, not synced'])
  const plan = compilePlan(policy.resources[0]!)
  t.match(compareDocuments(plan, 'collection', [{ id: 'o1', name: 'x' }, { id: 'o2', name: 'gone', state: 'expired' }], [{ id: 'n1', name: 'x' }]), { result: 'match' })
  t.match(compareDocuments(plan, 'collection', [{ id: 'o1', name: 'x' }], [{ id: 'n1' }]), { result: 'error', detail: 'new item 0 has nothing at /name, part of its natural key (check the resource\'s naturalKey)' })
  t.match(compareDocuments(plan, 'item', { id: 'o1', name: 'x' }, { id: 'n1', name: 'x' }), { result: 'match' })
})

t.test('a shadow item read is translated to the other store\'s id, query and tenant kept; an unpaired id is left as it is', async t => {
  const policy = validPolicy(`${HEAD}  - { type: a, collection: "/t/:tenant/a", item: "/t/:tenant/a/:id", naturalKey: [/name] }
  - { type: b, collection: /b, item: "/b/:id", naturalKey: [/name] }
  - { type: c, collection: /c, item: "/c/:id" }
`)
  const asked: string[] = []
  const ids = { otherId: async (wanted: string, type: string, tenant: string, id: string) => { asked.push(`${wanted} ${type} ${tenant} ${id}`); return id === 'o 1' ? 'n/1' : undefined } }
  const [a, b, c] = policy.resources as [typeof policy.resources[0], typeof policy.resources[0], typeof policy.resources[0]]
  t.equal(await pathForSide(a, 'tenant', '/t/ac%20me/a/o%201?x=1', 'new', ids), '/t/ac%20me/a/n%2F1?x=1')
  t.equal(await pathForSide(b, 'tenant', '/b/o2', 'old', ids), '/b/o2')
  t.equal(await pathForSide(c, 'tenant', '/c/o1', 'new', ids), '/c/o1', 'ids shared: nothing to translate')
  t.same(asked, ['new a ac me o 1', 'old b  o2'])
})

t.test('a store id is read at the resource\'s id pointer and set or left out in the body, nested pointers too', async t => {
  const nested = validPolicy(`${HEAD}  - { type: a, collection: /a, item: "/a/:id", id: /meta/uid, naturalKey: [/name] }\n`).resources[0]!
  t.equal(storeIdOf(nested, { meta: { uid: 7 } }), '7')
  t.equal(storeIdOf(nested, { meta: { uid: { no: 1 } } }), undefined)
  t.equal(storeIdOf(nested, undefined), undefined)
  t.same(withStoreId(nested, { name: 'x', meta: { uid: 'o1', other: 1 } }, 'n1'), { name: 'x', meta: { uid: 'n1', other: 1 } })
  t.same(withStoreId(nested, { name: 'x', meta: { uid: 'o1' } }, undefined), { name: 'x', meta: {} })
  t.same(withStoreId(nested, { name: 'x' }, 'n1'), { name: 'x' }, 'no parent, nothing set')
  t.same(withStoreId(nested, { name: 'x', meta: 'odd' }, 'n1'), { name: 'x', meta: 'odd' })
})
