// Resource shapes as `policy check` sees them: which combinations of paths are a shape, what is
// wrong with the others (file, line, key, fix), and how each shape is described.
import fc from 'fast-check'
import t from 'tap'
import { parsePolicy } from '../../src/policy/parse.ts'
import { describeShape, joinKey, keyOfMatch, splitKey } from '../../src/policy/shape.ts'
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
  return result.ok ? [] : result.errors.map(e => `${e.line}:${e.column} ${e.key}: ${e.message} (fix: ${e.fix})`)
}

t.test('every shape passes: collection + item, collection alone, singleton, with items at the top level and several item-path parameters', async t => {
  t.same(errors(`  - { type: a, collection: /a/:tenant, item: "/a/:tenant/:id" }
  - { type: b, collection: /b, list: { items: "" } }
  - { type: c, singleton: /c/:tenant/tree }
  - { type: d, collection: /d/:tenant/rules, item: "/d/:tenant/folders/:folder/rules/:uid", id: /uid, params: { folder: /folderUid } }
`), [])
})

t.test('paths that make no shape say what is missing and how to fix it, at the key', async t => {
  t.same(errors('  - { type: a }\n'), ['10:5 resources[0]: a resource needs its paths: collection (a list), collection and item, or singleton (one document) (fix: add collection: (and item:), or singleton:)'])
  t.same(errors('  - { type: a, item: /a/:id }\n'), ['10:16 resources[0].item: an item path needs its collection: the list the sync walks to find the objects (fix: add collection:, or use singleton: for one document without a list)'])
  t.match(errors('  - { type: a, singleton: /a, item: /a/:id }\n'), [/resources\[0\]\.item: a singleton is one document: it has no collection or item path/])
  t.match(errors('  - { type: a, singleton: /a, collection: /b }\n'), [/resources\[0\]\.collection: a singleton is one document/])
  t.match(errors('  - { type: a, singleton: "/a/:tenant/:x" }\n'), [/resources\[0\]\.singleton: the singleton path has parameters other than :tenant \(:x\), which nothing can fill in/])
  t.match(errors('  - { type: a, collection: "/a/:tenant/:folder/rules", item: "/a/:tenant/:folder/rules/:id", params: { folder: /f } }\n'), [/resources\[0\]\.collection: the collection path has parameters other than :tenant \(:folder\): the sync knows only the tenants it lists/])
  t.match(errors('  - { type: a, collection: /a, params: { x: /x } }\n'), [/resources\[0\]\.params\.x: params belong to an item path, and this resource has none/])
  t.match(errors('  - { type: a, collection: /a/:tenant, item: /a/:tenant/x }\n'), [/resources\[0\]\.item: the item path has no parameter for the object's id \(only :tenant\)/])
})

t.test('each item-path parameter but the last needs a pointer, and params names only those', async t => {
  t.same(errors('  - { type: a, collection: /r, item: "/f/:folder/r/:id" }\n'), ['10:5 resources[0].params: the item path\'s :folder has no pointer: the sync cannot fill it in for an object it listed (fix: add params: { folder: /folder } with the pointer where an object holds it)'])
  t.match(errors('  - { type: a, collection: /r, item: "/f/:folder/r/:id", params: { folder: /f, id: /x, other: /o } }\n'), [
    /resources\[0\]\.params\.id: :id is the item path's last parameter: the object's id, found at id \(\/id\)/,
    /resources\[0\]\.params\.other: the item path \/f\/:folder\/r\/:id has no :other/,
  ])
})

t.test('each shape is described: what its paths answer, how they are compared, what the sync writes', async t => {
  const policy = validPolicy(`${HEAD}  - { type: a, collection: /a/:tenant, item: "/a/:tenant/:id" }
  - { type: b, collection: /b, list: { items: "" }, id: /name }
  - { type: c, singleton: /c/:tenant/tree, write: { method: PATCH } }
  - { type: d, collection: /d/:tenant/rules, item: "/d/:tenant/folders/:folder/rules/:uid", id: /uid, params: { folder: /folderUid }, list: { items: /data } }
  - { type: e, singleton: /e }
  - { type: f, singleton: /f, sync: false }
  - { type: g, collection: /g, sync: false }
  - { type: h, collection: /h, item: "/h/:id", sync: false }
`)
  t.same(policy.resources.map(r => describeShape(r, policy)), [
    ['collection + item', 'list:   /a/:tenant (items at /items, next page at /nextCursor), compared as a set of items matched by /id', 'object: /a/:tenant/:id, compared whole', 'sync:   PUT item, DELETE item'],
    ['collection without an item path', 'list:   /b (the answer is the array itself), compared as a set of items matched by /name', 'sync:   none (no path to write one object to)'],
    ['singleton', 'object: /c/:tenant/tree, one document compared whole', 'sync:   PATCH (write.method) /c/:tenant/tree, DELETE when the source has none'],
    ['collection + item', 'list:   /d/:tenant/rules (items at /data, next page at /nextCursor), compared as a set of items matched by /folderUid + /uid', 'object: /d/:tenant/folders/:folder/rules/:uid, compared whole; :folder from /folderUid, :uid from /uid', 'sync:   PUT item, DELETE item'],
    ['singleton', 'object: /e, one document compared whole', 'sync:   PUT /e, DELETE when the source has none'],
    ['singleton', 'object: /f, one document compared whole', 'sync:   none (sync: false: compared, never written)'],
    ['collection without an item path', 'list:   /g (items at /items, next page at /nextCursor), compared as a set of items matched by /id', 'sync:   none (sync: false: compared, never written)'],
    ['collection + item', 'list:   /h (items at /items, next page at /nextCursor), compared as a set of items matched by /id', 'object: /h/:id, compared whole', 'sync:   none (sync: false: compared, never written)'],
  ])
})

t.test('the key of a write through the proxy: every identifying parameter of an item, "" for a singleton, none for a list', async t => {
  const [item, , singleton, several] = validPolicy(`${HEAD}  - { type: a, collection: /a/:tenant, item: "/a/:tenant/:id" }
  - { type: b, collection: /b, list: { items: "" } }
  - { type: c, singleton: /c/:tenant/tree }
  - { type: d, collection: /d/:tenant/rules, item: "/d/:tenant/folders/:folder/rules/:uid", params: { folder: /f } }
`).resources
  t.equal(keyOfMatch(item!, 'item', 'tenant', { tenant: 'acme', id: 'r1' }), 'r1')
  t.equal(keyOfMatch(item!, 'collection', 'tenant', { tenant: 'acme' }), undefined)
  t.equal(keyOfMatch(singleton!, 'singleton', 'tenant', { tenant: 'acme' }), '')
  t.equal(keyOfMatch(several!, 'item', 'tenant', { tenant: 'acme', folder: 'eu/west', uid: 'r1' }), 'eu%2Fwest/r1')
})

t.test('a key of several values splits back into exactly those values (property)', async t => {
  fc.assert(fc.property(fc.array(fc.string(), { minLength: 2, maxLength: 4 }), values => {
    t.same(splitKey(joinKey(values), values.length), values)
  }), { numRuns: 300 })
  t.equal(joinKey(['a/b']), 'a/b', 'one value is kept as it is, as keys always were')
  t.same(splitKey('a/b', 1), ['a/b'])
})

t.test('an invalid record key says the key and its own rule', async t => {
  t.match(errors('  - { type: a, collection: /a, item: "/a/:f/:id", params: { "": /x } }\n'), [/resources\[0\]\.params\.: the key "" is not valid: Too small: expected string to have >=1 characters \(fix: see the policy reference in README\.md\)/])
})
