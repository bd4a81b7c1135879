// Properties of the comparison an operator relies on: what must never count as drift, and what
// must always count as critical drift, over random alert rules.
import fc from 'fast-check'
import t from 'tap'
import { canonicalHash, compareAnswers, compilePlan, type Comparison } from '../../src/parity/compare.ts'
import { json, resourceWith } from './fixtures.ts'

const CRITICAL = ['/enabled', '/threshold', '/routing/receiver', '/owner', '/receivers/*/name']
const plan = compilePlan(resourceWith({
  compare: {
    ignore: ['/updatedAt', '/status/*/lastSeen'],
    unordered: { '/labels': null, '/receivers': '/name' },
    normalize: { '/for': 'duration', '/severity': 'lowercase', '/owner': 'trim', '/threshold': 'number', '/priority': { default: 'p3' } },
    critical: CRITICAL,
  },
}))

type Doc = Record<string, unknown>

const name = fc.constantFrom('pager', 'chat', 'email', 'ops', 'sre')
const receiver = fc.record({ name, type: fc.constantFrom('slack', 'pagerduty', 'webhook'), extra: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['name', 'type'] })
const alertRule: fc.Arbitrary<Doc> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 8 }),
  enabled: fc.boolean(),
  threshold: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
  for: fc.integer({ min: 0, max: 100_000 }),
  severity: fc.constantFrom('critical', 'warning', 'info'),
  owner: fc.constantFrom('team-a', 'team-b'),
  priority: fc.constantFrom('p1', 'p2', 'p3'),
  labels: fc.array(fc.string({ maxLength: 6 }), { maxLength: 6 }),
  receivers: fc.array(receiver, { maxLength: 5 }),
  routing: fc.record({ receiver: name, groupBy: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }) }),
  annotations: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  status: fc.dictionary(fc.constantFrom('eval', 'notify'), fc.record({ lastSeen: fc.jsonValue({ maxDepth: 1 }), healthy: fc.boolean() }), { maxKeys: 2 }),
  updatedAt: fc.jsonValue({ maxDepth: 1 }),
}, { requiredKeys: ['id', 'enabled', 'threshold', 'owner', 'labels', 'receivers', 'routing'] })

function compare(a: unknown, b: unknown): Comparison {
  return compareAnswers(plan, 'item', json(a), json(b))
}

/** A deterministic shuffle driven by `seed`. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let state = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0
    const j = state % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** The same document with the keys of every object in another order. */
function reorderKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map(v => reorderKeys(v, seed + 1))
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(shuffled(Object.entries(value), seed).map(([k, v]) => [k, reorderKeys(v, seed + 1)]))
}

/** Whether `b` is the same rule as `a` to the comparison and to the hash. */
function same(a: Doc, b: unknown): boolean {
  const c = compare(a, b)
  return c.result === 'match' && c.pointers.length === 0 && canonicalHash(plan, b) === canonicalHash(plan, a)
}

t.test('key order never changes the result or the hash', async t => {
  fc.assert(fc.property(alertRule, fc.integer(), (doc, seed) => same(doc, reorderKeys(doc, seed))), { numRuns: 200 })
})

t.test('any order of an unordered array never changes the result or the hash', async t => {
  fc.assert(fc.property(alertRule, fc.integer(), (doc, seed) => {
    return same(doc, { ...doc, labels: shuffled(doc.labels as unknown[], seed), receivers: shuffled(doc.receivers as unknown[], seed + 7) })
  }), { numRuns: 200 })
})

t.test('a change at an ignored pointer never changes the result or the hash', async t => {
  fc.assert(fc.property(alertRule, fc.option(fc.jsonValue(), { nil: undefined }), fc.jsonValue(), (doc, updatedAt, lastSeen) => {
    const changed: Doc = { ...doc }
    if (doc.status !== undefined) changed.status = Object.fromEntries(Object.entries(doc.status as Record<string, Doc>).map(([k, v]) => [k, { ...v, lastSeen }]))
    if (updatedAt === undefined) delete changed.updatedAt
    else changed.updatedAt = updatedAt
    return same(doc, changed)
  }), { numRuns: 200 })
})

t.test('values that normalize equal never change the result or the hash', async t => {
  const spellings = (seconds: number): fc.Arbitrary<unknown> => fc.constantFrom<unknown>(
    seconds, `${seconds}`, `${seconds}s`, `${seconds * 1000}ms`,
    ...(seconds % 60 === 0 ? [`${seconds / 60}m`] : []),
    ...(seconds >= 3600 ? [`${Math.floor(seconds / 3600)}h${seconds % 3600}s`] : []),
  )
  const casing = (text: string): fc.Arbitrary<string> => fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length })
    .map(upper => [...text].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join(''))
  const pair = alertRule.chain(doc => fc.record({
    doc: fc.constant(doc),
    for: doc.for === undefined ? fc.constant(undefined) : spellings(doc.for as number),
    severity: doc.severity === undefined ? fc.constant(undefined) : casing(doc.severity as string),
    owner: fc.constantFrom(' ', '\t', '', '\n ').map(pad => `${pad}${doc.owner as string}${pad}`),
    threshold: fc.constantFrom(doc.threshold, String(doc.threshold)),
    dropPriority: fc.boolean(),
  }))
  fc.assert(fc.property(pair, ({ doc, dropPriority, ...spelled }) => {
    const base = { ...doc, priority: doc.priority ?? 'p3' }
    const respelled: Doc = { ...base, owner: spelled.owner, threshold: spelled.threshold }
    if (spelled.for !== undefined) respelled.for = spelled.for
    if (spelled.severity !== undefined) respelled.severity = spelled.severity
    if (dropPriority && base.priority === 'p3') delete respelled.priority
    return same(base, respelled)
  }), { numRuns: 300 })
})

/** Where a critical value lives, and how to change it in a copy. */
const criticalEdit = fc.record({
  target: fc.constantFrom('enabled', 'threshold', 'owner', 'routing.receiver', 'receivers.name'),
  index: fc.nat(),
  replacement: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
})

function applyCritical(doc: Doc, { target, index, replacement }: { target: string, index: number, replacement: unknown }): Doc | undefined {
  const copy = structuredClone(doc)
  const set = (object: Doc, key: string): void => {
    if (replacement === undefined) delete object[key]
    else object[key] = replacement
  }
  if (target === 'routing.receiver') set(copy.routing as Doc, 'receiver')
  else if (target === 'receivers.name') {
    const receivers = copy.receivers as Doc[]
    if (receivers.length === 0) return undefined
    set(receivers[index % receivers.length]!, 'name')
  } else set(copy, target)
  return copy
}

t.test('any change to a value at a critical pointer is classified critical', async t => {
  fc.assert(fc.property(alertRule, criticalEdit, (doc, edit) => {
    const changed = applyCritical(doc, edit)
    fc.pre(changed !== undefined && canonicalHash(plan, changed) !== canonicalHash(plan, doc))
    const c = compare(doc, changed)
    return c.result === 'critical' && c.pointers.some(p => p.severity === 'critical')
  }), { numRuns: 400 })
})

/** Where a non-critical value lives, and how to change it. */
const cosmeticEdit = fc.record({
  target: fc.constantFrom('annotations', 'labels', 'routing.groupBy', 'receivers.type', 'receivers.extra', 'severity', 'for', 'status.healthy', 'extraField'),
  index: fc.nat(),
  replacement: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
})

function applyCosmetic(doc: Doc, { target, index, replacement }: { target: string, index: number, replacement: unknown }): Doc | undefined {
  const copy = structuredClone(doc)
  const set = (object: Doc, key: string): void => {
    if (replacement === undefined) delete object[key]
    else object[key] = replacement
  }
  const receivers = copy.receivers as Doc[]
  switch (target) {
    case 'routing.groupBy': set(copy.routing as Doc, 'groupBy'); break
    case 'receivers.type':
    case 'receivers.extra':
      if (receivers.length === 0) return undefined
      set(receivers[index % receivers.length]!, target.slice('receivers.'.length))
      break
    case 'status.healthy': {
      const entries = Object.values((copy.status ?? {}) as Record<string, Doc>)
      if (entries.length === 0) return undefined
      set(entries[index % entries.length]!, 'healthy')
      break
    }
    default: set(copy, target)
  }
  return copy
}

t.test('a change outside critical pointers is cosmetic', async t => {
  fc.assert(fc.property(alertRule, cosmeticEdit, (doc, edit) => {
    const changed = applyCosmetic(doc, edit)
    fc.pre(changed !== undefined && canonicalHash(plan, changed) !== canonicalHash(plan, doc))
    const c = compare(doc, changed)
    return c.result === 'cosmetic' && c.pointers.length > 0 && c.pointers.every(p => p.severity === 'cosmetic')
  }), { numRuns: 400 })
})

t.test('a comparison matches exactly when the canonical hashes are equal', async t => {
  fc.assert(fc.property(alertRule, fc.oneof(criticalEdit.map(edit => [applyCritical, edit] as const), cosmeticEdit.map(edit => [applyCosmetic, edit] as const)), (doc, [apply, edit]) => {
    const changed = apply(doc, edit) ?? doc
    return (compare(doc, changed).result === 'match') === (canonicalHash(plan, doc) === canonicalHash(plan, changed))
  }), { numRuns: 300 })
})

t.test('a collection in any order with any cursor matches; a last page without one of its items is critical', async t => {
  fc.assert(fc.property(fc.uniqueArray(alertRule, { selector: d => d.id, maxLength: 6 }), fc.integer(), fc.nat(), (items, seed, drop) => {
    const old = { items, nextCursor: 'a' }
    if (compareAnswers(plan, 'collection', json(old), json({ items: shuffled(items, seed), nextCursor: 'b', total: items.length })).result !== 'match') return false
    if (items.length === 0) return true
    const fewer = items.filter((_, i) => i !== drop % items.length)
    // A page with more after it may hold other items when the sides sort differently: not drift.
    if (compareAnswers(plan, 'collection', json(old), json({ items: fewer, nextCursor: 'c' })).result !== 'match') return false
    const c = compareAnswers(plan, 'collection', json({ items }), json({ items: fewer, nextCursor: null }))
    return c.result === 'critical' && c.pointers.some(p => p.pointer === '/items/*' && p.severity === 'critical')
  }), { numRuns: 150 })
})
