import fc from 'fast-check'
import { canonicalize } from 'json-canonicalize'
import t from 'tap'
import { canonicalJson, canonicalSha256, sameJson } from '../../src/parity/canonical.ts'
import { addDifferingPointers, diffOperations } from '../../src/parity/diff.ts'

/** Documents and edited copies of them: most pairs share most of their structure, as two reads do. */
const edit = fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom('replace', 'remove', 'add'), fc.jsonValue({ maxDepth: 2 }))
type Edit = [number[], string, unknown]

function applyEdit(doc: unknown, [choices, op, value]: Edit): unknown {
  const copy = structuredClone(doc)
  let parent: unknown = undefined
  let key: string | number | undefined
  let current: unknown = copy
  for (const choice of choices) {
    if (current === null || typeof current !== 'object') break
    const keys = Array.isArray(current) ? current.map((_, i) => i) : Object.keys(current)
    if (keys.length === 0) break
    parent = current
    key = keys[choice % keys.length]!
    current = (current as Record<string | number, unknown>)[key]
  }
  if (parent === undefined || key === undefined) return op === 'remove' ? copy : value
  const container = parent as Record<string | number, unknown>
  if (op === 'replace') container[key] = value
  else if (op === 'remove' && Array.isArray(parent)) parent.splice(key as number, 1)
  else if (op === 'remove') delete container[key]
  else if (Array.isArray(parent)) parent.push(value)
  else container[`${key}+`] = value
  return copy
}

const docPair = fc.oneof(
  fc.tuple(fc.jsonValue(), fc.jsonValue()),
  fc.tuple(fc.jsonValue(), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([doc, edits]) => [doc, edits.reduce<unknown>((d, e) => applyEdit(d, e as Edit), doc)] as const),
)

/** fast-json-patch's path with every array index as `*`, read off the first document. */
function templated(path: string, doc: unknown): string {
  const segments = path.split('/')
  let container = doc
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!
    if (Array.isArray(container)) {
      segments[i] = '*'
      container = container[Number(segment)]
    } else {
      container = (container as Record<string, unknown>)[segment.replaceAll('~1', '/').replaceAll('~0', '~')]
    }
  }
  return segments.join('/')
}

t.test('equality is exactly equality of the RFC 8785 canonical forms', async t => {
  fc.assert(fc.property(docPair, ([a, b]) => sameJson(a, b) === (canonicalize(a) === canonicalize(b))))
  fc.assert(fc.property(fc.jsonValue(), a => sameJson(a, structuredClone(a))))
  t.ok(sameJson({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }), 'key order is not a difference')
  t.notOk(sameJson({ a: 1 }, { a: 1, b: 2 }))
  t.notOk(sameJson({ a: 1, c: 2 }, { a: 1, b: 2 }))
  t.notOk(sameJson([1], [1, 2]))
  t.notOk(sameJson([1, 2], [1, 3]))
  t.notOk(sameJson([1], { 0: 1 }))
  t.notOk(sameJson({ 0: 1 }, [1]))
  t.notOk(sameJson(null, {}))
  t.notOk(sameJson({}, null))
  t.notOk(sameJson(1, '1'))
})

t.test('canonical JSON sorts keys and hashes stably', async t => {
  t.equal(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}')
  t.equal(canonicalJson('x'), '"x"')
  t.equal(canonicalJson(1e21), '1e+21')
  t.equal(canonicalSha256({ b: 1, a: 2 }), canonicalSha256({ a: 2, b: 1 }))
  t.match(canonicalSha256(null), /^[0-9a-f]{64}$/)
})

t.test('the differing pointers are the templated paths fast-json-patch reports', async t => {
  fc.assert(fc.property(docPair, ([a, b]) => {
    const found = new Set<string>()
    addDifferingPointers(a, b, '', found)
    const expected = new Set(diffOperations(a, b).map(op => templated(op.path, a)))
    t.same([...found].sort(), [...expected].sort())
  }), { numRuns: 500 })
})

t.test('differing pointers template array indexes and escape keys', async t => {
  const found = new Set<string>()
  addDifferingPointers({ a: [1, 2, { 'x/y~z': 1 }], gone: 1, same: [1] }, { a: [1, 3, { 'x/y~z': 2 }, 4], added: 1, same: [1] }, '', found)
  t.same([...found].sort(), ['/a/*', '/a/*/x~1y~0z', '/added', '/gone'])
})

t.test('a change of the whole document is one replace of the root', async t => {
  t.same(diffOperations({}, []), [{ op: 'replace', path: '', value: [] }])
  t.same(diffOperations(1, 2), [{ op: 'replace', path: '', value: 2 }])
  t.same(diffOperations(null, { a: 1 }), [{ op: 'replace', path: '', value: { a: 1 } }])
  t.same(diffOperations('x', 'x'), [])
  t.same(diffOperations({ a: 1 }, { a: 2 }), [{ op: 'replace', path: '/a', value: 2 }])
  const found = new Set<string>()
  addDifferingPointers({}, [], '', found)
  addDifferingPointers('x', 'x', '/same', found)
  t.same([...found], [''])
})
