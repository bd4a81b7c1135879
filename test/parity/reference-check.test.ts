// The reference check over two answers, with the lookups answered from a table (the HTTP side is
// in broken-reference.test.ts): what is looked up and how often, the bound per comparison, and
// answers that cannot be looked into.
import t from 'tap'
import { compilePolicy } from '../../src/policy/compile.ts'
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

function answers(old: unknown, neu: unknown, over: Partial<ReferenceCheckInput> = {}): ReferenceCheckInput {
  const body = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))
  return {
    compiled, resourceType: 'rule', kind: 'item', tenant: 'acme',
    old: { status: 200, body: body(old) }, new: { status: 200, body: body(neu) },
    store: { old: 'http://old', new: 'http://new' }, ...over,
  }
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

t.test('a resource without references, and answers that do not parse, are not looked into', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const check = new ReferenceCheck(metrics)
  const { asked, lookUp } = lookUps({ old: new Set(), new: new Set() })
  t.equal(await check.check(answers({ ep: 'e1' }, { ep: 'e1' }, { resourceType: 'plain' }), lookUp), undefined)
  t.equal(await check.check(answers('not json', 'not json'), lookUp), undefined, 'byte-equal answers a comparison called a match without parsing them')
  t.same(asked, [])
})

t.test('at most MAX_LINKS_PER_COMPARISON objects are looked up per comparison; the rest are unresolved', async t => {
  const metrics = new Metrics()
  t.teardown(() => metrics.shutdown())
  const check = new ReferenceCheck(metrics)
  const { asked, lookUp } = lookUps({ old: new Set(), new: new Set() })
  const page = { items: Array.from({ length: MAX_LINKS_PER_COMPARISON + 5 }, (_, i) => ({ id: `r${i}`, ep: `e${i}` })) }
  const outcome = await check.check(answers(page, page, { kind: 'collection' }), lookUp)
  t.equal(asked.length, 2 * MAX_LINKS_PER_COMPARISON)
  t.same([outcome!.dangling.length, outcome!.unresolved.length], [MAX_LINKS_PER_COMPARISON, 5])
  t.same(outcome!.unresolved[0]!.pointers, ['/items/*/ep'])
})
