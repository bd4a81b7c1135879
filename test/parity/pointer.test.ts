import fc from 'fast-check'
import t from 'tap'
import { buildPointerTree, childFor, escapeSegment, overlaps, parsePointer, setOwn, unescapeSegment, valueAt, type PointerTree } from '../../src/parity/pointer.ts'

t.test('a pointer splits into unescaped segments, ~1 before ~0 as RFC 6901 says', async t => {
  t.same(parsePointer(''), [], 'the whole document')
  t.same(parsePointer('/'), [''], 'the empty key')
  t.same(parsePointer('/routing/receiver'), ['routing', 'receiver'])
  t.same(parsePointer('/a~1b/c~0d/~01'), ['a/b', 'c~d', '~1'])
})

t.test('escaping a key and unescaping it gives the key back', async t => {
  t.equal(escapeSegment('plain'), 'plain')
  t.equal(escapeSegment('a/b~c'), 'a~1b~0c')
  fc.assert(fc.property(fc.string(), key => unescapeSegment(escapeSegment(key)) === key))
})

t.test('a pointer reads a value in objects and arrays, and nothing where there is none', async t => {
  const doc = { a: { 'b/c': [10, { d: null }] }, list: [1] }
  t.same(valueAt(doc, []), doc)
  t.equal(valueAt(doc, ['a', 'b/c', '0']), 10)
  t.equal(valueAt(doc, ['a', 'b/c', '1', 'd']), null)
  t.equal(valueAt(doc, ['a', 'b/c', '2']), undefined, 'past the end')
  t.equal(valueAt(doc, ['list', '01']), undefined, 'a leading zero is not an index')
  t.equal(valueAt(doc, ['list', 'length']), undefined, 'array properties are not elements')
  t.equal(valueAt(doc, ['constructor']), undefined, 'inherited properties are not keys')
  t.equal(valueAt(doc, ['a', 'b/c', '0', 'x']), undefined, 'below a number')
  t.equal(valueAt(doc, ['missing', 'x']), undefined)
})

t.test('two pointers overlap when equal, one under the other, or * stands in for a segment', async t => {
  const split = (p: string): string[] => p.split('/')
  t.ok(overlaps(split('/enabled'), split('/enabled')))
  t.ok(overlaps(split('/routing/receiver'), split('/routing')), 'under')
  t.ok(overlaps(split('/routing'), split('/routing/receiver')), 'above')
  t.ok(overlaps(split(''), split('/routing/receiver')), 'the whole document is above everything')
  t.ok(overlaps(split('/receivers/*/name'), split('/receivers/0/name')))
  t.ok(overlaps(split('/receivers/3/name'), split('/receivers/*/name')))
  t.notOk(overlaps(split('/receivers/*/type'), split('/receivers/*/name')))
  t.notOk(overlaps(split('/enabledAt'), split('/enabled')))
})

/** The rules a walk meets along `path`, or undefined where no rule lies below. */
function rulesAlong<T>(tree: PointerTree<T>, path: string[]): Array<T | undefined> | undefined {
  const rules: Array<T | undefined> = []
  let node: PointerTree<T> | undefined = tree
  for (const key of path) {
    node = childFor(node, key)
    if (node === undefined) return undefined
    rules.push(node.rule)
  }
  return rules
}

t.test('a literal key also carries the rules of its * sibling, at every depth', async t => {
  const merge = (a: string[], b: string[]): string[] => [...a, ...b]
  const tree = buildPointerTree<string[]>([
    ['/receivers/*/name', ['any name']],
    ['/receivers/*/config/url', ['any url']],
    ['/receivers/0/name', ['first name']],
    ['/receivers/0/name', ['first name again']],
    ['/receivers/0', ['first']],
    ['/receivers/*', ['any']],
    ['/labels/*', ['label']],
    ['/labels/*/x', ['label x']],
    ['', ['root']],
  ], merge)
  t.same(tree.rule, ['root'])
  t.same(rulesAlong(tree, ['receivers', '0', 'name']), [undefined, ['first', 'any'], ['first name', 'first name again', 'any name']])
  t.same(rulesAlong(tree, ['receivers', '7', 'name']), [undefined, ['any'], ['any name']])
  t.same(rulesAlong(tree, ['receivers', '0', 'config', 'url']), [undefined, ['first', 'any'], undefined, ['any url']])
  t.same(rulesAlong(tree, ['labels', 'team', 'x']), [undefined, ['label'], ['label x']])
  t.equal(rulesAlong(tree, ['receivers', '0', 'type']), undefined, 'no rule below')
  t.equal(rulesAlong(tree, ['owner']), undefined)
})

t.test('* siblings at two depths combine with literal keys at both', async t => {
  const tree = buildPointerTree<string[]>([
    ['/a/*/c/*', ['a*c*']],
    ['/a/b/*/d', ['ab*d']],
    ['/a/b/c/d', ['abcd']],
    ['/m/n/*', ['mn*']],
    ['/m/*/*', ['m**']],
    ['/x/a', ['xa']],
    ['/x/*/y', ['x*y']],
  ], (a, b) => [...a, ...b])
  t.same(rulesAlong(tree, ['a', 'b', 'c', 'd']), [undefined, undefined, undefined, ['abcd', 'ab*d', 'a*c*']])
  t.same(rulesAlong(tree, ['a', 'x', 'c', 'd']), [undefined, undefined, undefined, ['a*c*']])
  t.same(rulesAlong(tree, ['a', 'b', 'x', 'd']), [undefined, undefined, undefined, ['ab*d']])
  t.same(rulesAlong(tree, ['m', 'n', 'o']), [undefined, undefined, ['mn*', 'm**']])
  t.same(rulesAlong(tree, ['x', 'a', 'y']), [undefined, ['xa'], ['x*y']])
})

t.test('a key named __proto__ is stored as data, not as the prototype', async t => {
  const out: Record<string, unknown> = {}
  setOwn(out, '__proto__', { polluted: true })
  setOwn(out, 'a', 1)
  t.same(Object.keys(out), ['__proto__', 'a'])
  t.equal(Object.getPrototypeOf(out), Object.prototype)
  t.equal((out as { polluted?: unknown }).polluted, undefined)
})
