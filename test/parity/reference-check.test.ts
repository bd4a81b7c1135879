// The reference check over two answers, with the lookups answered from a table (the HTTP side is
// in broken-reference.test.ts): what is looked up and how often, the bound per comparison, and
// answers that cannot be looked into. The links are found where the pair is compared (a worker).
import t from 'tap'
import { compilePolicy, type ResourceKind } from '../../src/policy/compile.ts'
import { comparer } from '../../src/parity/compare-task.ts'
import { MAX_LINKS_PER_COMPARISON, ReferenceCheck, type ReferenceCheckInput } from '../../src/parity/reference-check.ts'
import type { Side } from '../../src/policy/schema.ts'
import { Metrics } from '../../src/telemetry/metrics.ts'
import { policyWith } from '../policy/fixtures.ts'

const compiled = compilePolicy(policyWith({
  resources: [
    { type: 'rule', collection: '/t/:tenant/rules', item: '/t/:tenant/rules/:id', references: { '/ep': 'ep', '/backup': 'ep' } },
    { type: 'ep', collection: '/t/:tenant/eps', item: '/t/:tenant/eps/:id' },
    { type: 'plain', collection: '/p', item: '/p/:id' },
  ],
}), 'h')

const compare = comparer({ resources: compiled.policy.resources, maskKey: new Uint8Array(32) })

/** The pair compared as a worker compares it: the objects both answers name, if any. */
function linksOf(old: unknown, neu: unknown, o: { resourceType?: string, kind?: ResourceKind } = {}) {
  const body = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))
  return compare({ resourceType: o.resourceType ?? 'rule', kind: o.kind ?? 'item', old: { status: 200, body: body(old) }, new: { status: 200, body: body(neu) }, explain: false, knownSecrets: [] }).links
}

function answers(old: unknown, neu: unknown, kind: ResourceKind = 'item'): ReferenceCheckInput {
  return { compiled, tenant: 'acme', targets: linksOf(old, neu, { kind })!, store: { old: 'http://old', new: 'http://new' } }
}

function lookUps(exists: Record<Side, Set<string>>) {
  const asked: string[] = []
  return { asked, lookUp: async (side: Side, path: string) => { asked.push(`${side} ${path}`); return exists[side].has(path) } }
}

t.test('both answers\' links are looked up on both sides, each object once', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const check = new ReferenceCheck(metrics)
  const { asked, lookUp } = lookUps({ old: new Set(['/t/acme/eps/e1']), new: new Set() })
  const outcome = await check.check(answers({ ep: 'e1' }, { backup: 'e1', ep: 'e2' }), lookUp)
  t.same(outcome!.broken.map(r => [r.id, r.pointers]), [['e1', ['/ep', '/backup']]], 'named at another pointer on new: one object, both pointers')
  t.same(outcome!.dangling.map(r => r.id), ['e2'])
  t.same(asked.sort(), ['new /t/acme/eps/e1', 'new /t/acme/eps/e2', 'old /t/acme/eps/e1', 'old /t/acme/eps/e2'])
})

t.test('a resource without references, and answers that do not parse, have no links to look up', async t => {
  t.equal(linksOf({ ep: 'e1' }, { ep: 'e1' }, { resourceType: 'plain' }), undefined)
  t.equal(linksOf('not json', 'not json'), undefined, 'byte-equal answers that do not parse')
  t.equal(linksOf({ ep: 'e1' }, 'not json'), undefined, 'one answer that does not parse')
  t.same(linksOf({ ep: 'e1' }, { ep: 'e1' }), [{ type: 'ep', id: 'e1', pointers: ['/ep'] }], 'byte-equal answers are parsed once for their links')
})

t.test('at most MAX_LINKS_PER_COMPARISON objects are looked up per comparison; the rest are unresolved', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const check = new ReferenceCheck(metrics)
  const { asked, lookUp } = lookUps({ old: new Set(), new: new Set() })
  const page = { items: Array.from({ length: MAX_LINKS_PER_COMPARISON + 5 }, (_, i) => ({ id: `r${i}`, ep: `e${i}` })) }
  const outcome = await check.check(answers(page, page, 'collection'), lookUp)
  t.equal(asked.length, 2 * MAX_LINKS_PER_COMPARISON)
  t.same([outcome!.dangling.length, outcome!.unresolved.length], [MAX_LINKS_PER_COMPARISON, 5])
  t.same(outcome!.unresolved[0]!.pointers, ['/items/*/ep'])
})
