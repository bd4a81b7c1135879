// The links a document holds and what resolving them says, without sockets: ids at pointers with
// wildcards over arrays and objects, the item path a link is read at, broken versus dangling,
// and how a comparison carries a broken link (its own pointer, reason broken-reference).
import t from 'tap'
import { policyWith } from '../policy/fixtures.ts'
import { BROKEN_REFERENCE, classifyLinks, compileReferences, describeLink, itemPathOf, linkTargets, type Resolved } from '../../src/parity/references.ts'
import { withLinks } from '../../src/parity/reference-check.ts'
import type { Comparison } from '../../src/parity/compare.ts'

const policy = policyWith({
  resources: [
    {
      type: 'alert-rule', collection: '/api/:tenant/rules', item: '/api/:tenant/rules/:id',
      references: { '/escalationPolicyId': 'escalation-policy', '/receivers/*/name': 'contact-point', '/routes/*': 'route', '/a~1b': 'team' },
    },
    { type: 'escalation-policy', collection: '/api/:tenant/eps', item: '/api/:tenant/eps/:id' },
    { type: 'plain', collection: '/p', item: '/p/:id' },
  ],
})
const [rule, ep, plain] = policy.resources as [typeof policy.resources[0], typeof policy.resources[0], typeof policy.resources[0]]
const plan = compileReferences(rule)!

t.test('a resource without references has no plan: its comparisons do no extra work', async t => {
  t.equal(compileReferences(plain), undefined)
})

t.test('ids are found at their pointers, wildcards over arrays and objects, each object once', async t => {
  const doc = {
    escalationPolicyId: 'ep-1',
    receivers: [{ name: 'pager' }, { name: 'mail' }, { name: 'pager' }, { other: 1 }],
    routes: { eu: 7, us: 'r-us', none: null, nested: { x: 1 } },
    'a/b': 'team-1',
  }
  t.same(linkTargets(plan, 'item', doc), [
    { type: 'escalation-policy', id: 'ep-1', pointers: ['/escalationPolicyId'] },
    { type: 'contact-point', id: 'pager', pointers: ['/receivers/*/name'] },
    { type: 'contact-point', id: 'mail', pointers: ['/receivers/*/name'] },
    { type: 'route', id: '7', pointers: ['/routes/*'] },
    { type: 'route', id: 'r-us', pointers: ['/routes/*'] },
    { type: 'team', id: 'team-1', pointers: ['/a~1b'] },
  ])
  t.same(linkTargets(plan, 'item', { escalationPolicyId: '', receivers: 'not a list', routes: [Infinity, true] }), [], 'empty, non-finite and non-id values are no link')
  t.same(linkTargets(plan, 'item', null), [])
  const indexed = compileReferences(policyWith({ resources: [{ type: 'x', collection: '/x', item: '/x/:id', references: { '/receivers/0/name': 'x' } }] }).resources[0]!)!
  t.same(linkTargets(indexed, 'item', { receivers: [{ name: 'first' }] }), [{ type: 'x', id: 'first', pointers: ['/receivers/*/name'] }], 'an array index is templated as *')
})

t.test('a collection\'s links are found in each item, under the item pattern', async t => {
  const page = { items: [{ escalationPolicyId: 'ep-1' }, { escalationPolicyId: 'ep-1' }, { escalationPolicyId: 'ep-2' }] }
  t.same(linkTargets(plan, 'collection', page), [
    { type: 'escalation-policy', id: 'ep-1', pointers: ['/items/*/escalationPolicyId'] },
    { type: 'escalation-policy', id: 'ep-2', pointers: ['/items/*/escalationPolicyId'] },
  ])
  t.same(linkTargets(plan, 'collection', { items: 'none' }), [], 'a page without an item list names nothing')
  const both = compileReferences(policyWith({ resources: [{ type: 'x', collection: '/x', item: '/x/:id', references: { '/a': 'x', '/b': 'x' } }] }).resources[0]!)!
  t.same(linkTargets(both, 'item', { a: 'same', b: 'same' }), [{ type: 'x', id: 'same', pointers: ['/a', '/b'] }], 'one object named at two pointers is one lookup')
})

t.test('a link is read at the named type\'s item path, in the referring object\'s tenant', async t => {
  t.equal(itemPathOf(ep, 'tenant', 'acme', 'ep/1 x'), '/api/acme/eps/ep%2F1%20x')
  t.equal(itemPathOf(plain, 'tenant', undefined, 'p1'), '/p/p1')
  t.equal(itemPathOf({ ...ep, item: '/api/:tenant/eps/:id(^\\d+$)' }, 'tenant', undefined, '7'), '/api//eps/7', 'a regex suffix is not part of the name')
})

const resolved = (old: boolean | undefined, neu: boolean | undefined, id = 'ep-1'): Resolved => ({ type: 'escalation-policy', id, pointers: ['/escalationPolicyId'], old, new: neu })

t.test('resolving on both sides: one side only is broken; neither is dangling; both is resolved; unknown is no verdict', async t => {
  const outcome = classifyLinks([resolved(true, false), resolved(false, true, 'ep-2'), resolved(false, false, 'ep-3'), resolved(true, true, 'ep-4'), resolved(undefined, true, 'ep-5'), resolved(true, undefined, 'ep-6')])
  t.same(outcome.broken.map(r => r.id), ['ep-1', 'ep-2'])
  t.same(outcome.dangling.map(r => r.id), ['ep-3'])
  t.same(outcome.resolved.map(r => r.id), ['ep-4'])
  t.same(outcome.unresolved.map(r => r.id), ['ep-5', 'ep-6'])
  t.equal(describeLink(resolved(true, false)), 'escalation-policy "ep-1" (at /escalationPolicyId) exists on old, not on new')
  t.equal(describeLink(resolved(false, true)), 'escalation-policy "ep-1" (at /escalationPolicyId) exists on new, not on old')
  t.equal(describeLink(resolved(false, false)), 'escalation-policy "ep-1" (at /escalationPolicyId) exists on neither side')
})

t.test('a broken link makes the comparison critical with its own pointer and reason; a dangling one only explains', async t => {
  const cosmetic: Comparison = { result: 'cosmetic', pointers: [{ pointer: '/z', severity: 'cosmetic' }, { pointer: '/a', severity: 'cosmetic' }], versionsDiffer: false }
  const broken = withLinks(cosmetic, classifyLinks([resolved(true, false), resolved(true, false, 'ep-2'), resolved(false, false, 'ep-3')]))
  t.equal(broken.result, 'critical')
  t.same(broken.pointers, [
    { pointer: '/a', severity: 'cosmetic' },
    { pointer: '/escalationPolicyId', severity: 'critical', reason: BROKEN_REFERENCE },
    { pointer: '/z', severity: 'cosmetic' },
  ], 'one pointer for two broken links at it, sorted in')
  t.match(broken.detail, /ep-1.*exists on old, not on new; .*ep-2.*; .*ep-3.*exists on neither side/)
  const match: Comparison = { result: 'match', pointers: [], versionsDiffer: false, detail: 'earlier' }
  const dangling = withLinks(match, classifyLinks([resolved(false, false)]))
  t.same([dangling.result, dangling.pointers, dangling.detail], ['match', [], 'earlier; escalation-policy "ep-1" (at /escalationPolicyId) exists on neither side'])
  t.equal(withLinks(match, classifyLinks([resolved(true, true)])), match, 'links that resolve on both sides change nothing')
  const twoEqual: Comparison = { result: 'match', pointers: [{ pointer: '/a', severity: 'cosmetic' }, { pointer: '/a', severity: 'cosmetic' }], versionsDiffer: false }
  t.equal(withLinks(twoEqual, classifyLinks([resolved(true, false)])).pointers.length, 3)
})
