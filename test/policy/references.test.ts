// References as `policy check` sees them: what a reference may name (and why not, at the key,
// with a fix), cycles, the parents-first order the sync writes in, and how check describes them.
import t from 'tap'
import { describePolicy } from '../../src/cli/policy-summary.ts'
import { parsePolicy } from '../../src/policy/parse.ts'
import { parentsFirst } from '../../src/policy/references.ts'
import { policyWith, validPolicy } from './fixtures.ts'

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
const EP = '  - { type: escalation-policy, collection: /api/:tenant/eps, item: "/api/:tenant/eps/:id" }\n'

function errors(resources: string): string[] {
  const result = parsePolicy(HEAD + resources, 'policy.yaml')
  return result.ok ? [] : result.errors.map(e => `${e.key}: ${e.message} (fix: ${e.fix})`)
}

t.test('a reference to a declared type with an item path is valid, wildcards included', async t => {
  t.same(errors(`${EP}  - type: alert-rule
    collection: /api/:tenant/rules
    item: "/api/:tenant/rules/:id"
    references: { /escalationPolicyId: escalation-policy, /receivers/*/name: contact-point }
  - { type: contact-point, collection: /api/:tenant/cps, item: "/api/:tenant/cps/:id" }
`), [])
})

t.test('a reference must name a declared type, found by one id at its item path', async t => {
  t.same(errors('  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /ep: escalation-policy } }\n'),
    ['resources[0].references./ep: references the unknown resource type "escalation-policy" (fix: declare escalation-policy under resources)'])
  t.same(errors(`  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /ep: escalatoin-policy } }\n${EP}`),
    ['resources[0].references./ep: references the unknown resource type "escalatoin-policy" (fix: use one of: escalation-policy, or declare escalatoin-policy under resources)'])
  t.match(errors(`  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /tree: tree } }
  - { type: tree, singleton: /t/:tenant }
`), [/resources\[0\]\.references\.\/tree: tree has no item path, so a link to one of its objects cannot be resolved \(it is a singleton\).*fix: give tree an item path/])
  t.match(errors(`  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /receiver: receiver } }
  - { type: receiver, collection: /receivers, list: { items: "" } }
`), [/receiver has no item path.*\(it is a list without an item path\).*fix: give receiver an item path such as \/receivers\/:id/])
  t.match(errors(`  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /folder: folder-rule } }
  - { type: folder-rule, collection: /f/:tenant, item: "/f/:tenant/:folder/:id", params: { folder: /folder } }
`), [/folder-rule's item path \/f\/:tenant\/:folder\/:id needs 2 values \(:folder, :id\), and a link holds one id/])
  t.match(errors(`  - { type: silence, collection: /silences, item: "/silences/:id", references: { /ep: escalation-policy } }\n${EP}`),
    [/escalation-policy's item path has :tenant, and silence's paths have none to fill it from/])
})

t.test('a natural key may not hold a link to a type whose stores assign their own ids: the two stores\' values there never match', async t => {
  const write = 'write: { create: { method: POST, path: collection } }'
  const ep = `  - { type: escalation-policy, collection: /api/:tenant/eps, item: "/api/:tenant/eps/:id", naturalKey: [/name], ${write} }\n`
  t.same(errors(`${ep}  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", naturalKey: [/name, /ep], ${write}, references: { /ep: escalation-policy } }\n`),
    ['resources[1].naturalKey[1]: /ep holds a link to escalation-policy, whose stores each assign their own ids, so the two stores\' values there differ and no alert-rule would ever pair (fix: pair alert-rule by fields both stores keep as written (such as /name); the sync translates the link itself)'])
  t.match(errors(`${ep}  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", naturalKey: [/steps], ${write}, references: { /steps/*/ep: escalation-policy } }\n`), [/naturalKey\[0\]: \/steps holds a link/], 'a key above the link')
  t.same(errors(`${ep}  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", naturalKey: [/name], ${write}, references: { /ep: escalation-policy } }\n`), [], 'paired by name, the link translated')
  t.same(errors(`${EP}  - { type: alert-rule, collection: /r/:tenant, item: "/r/:tenant/:id", naturalKey: [/name, /ep], ${write}, references: { /ep: escalation-policy } }\n`), [], 'a link to a type both stores name alike may be part of the key')
})

t.test('references that form a cycle are an error: the sync would have no parents-first order', async t => {
  t.match(errors(`  - { type: a, collection: /a/:tenant, item: "/a/:tenant/:id", references: { /b: b } }
  - { type: b, collection: /b/:tenant, item: "/b/:tenant/:id", references: { /c: c } }
  - { type: c, collection: /c/:tenant, item: "/c/:tenant/:id", references: { /a: a } }
`), ['resources[0].references: references form a cycle (a → b → c → a), so the sync has no parents-first order to write them in (fix: remove one of these references (a reference is only needed where a missing object is an incident))'])
  t.match(errors('  - { type: route, collection: /r/:tenant, item: "/r/:tenant/:id", references: { /parent: route } }\n'), [/references form a cycle \(route → route\)/])
})

t.test('types are ordered parents first, otherwise as declared', async t => {
  const policy = policyWith({
    resources: [
      { type: 'alert-rule', collection: '/r/:tenant', item: '/r/:tenant/:id', references: { '/ep': 'escalation-policy', '/team': 'team' } },
      { type: 'contact-point', collection: '/c/:tenant', item: '/c/:tenant/:id' },
      { type: 'escalation-policy', collection: '/e/:tenant', item: '/e/:tenant/:id', references: { '/team': 'team', '/gone': 'not-declared' } },
      { type: 'team', collection: '/t/:tenant', item: '/t/:tenant/:id' },
    ],
  })
  t.same(parentsFirst(policy.resources).map(r => r.type), ['contact-point', 'team', 'escalation-policy', 'alert-rule'])
  const cyclic = policyWith({
    resources: [
      { type: 'a', collection: '/a', item: '/a/:id', references: { '/b': 'b' } },
      { type: 'b', collection: '/b', item: '/b/:id', references: { '/a': 'a' } },
    ],
  })
  t.same(parentsFirst(cyclic.resources).map(r => r.type), ['a', 'b'], 'a cycle (refused by policy check) keeps the declared order')
})

t.test('policy check describes each resource\'s links and the sync order', async t => {
  const policy = validPolicy(`${HEAD}  - type: alert-rule
    collection: /api/:tenant/rules
    item: "/api/:tenant/rules/:id"
    references: { /escalationPolicyId: escalation-policy }
${EP}`)
  const text = describePolicy(policy)
  t.match(text, '    links:  /escalationPolicyId → escalation-policy (a link found on one side only is critical drift)')
  t.match(text, 'sync order: escalation-policy, alert-rule (parents first; deletions in reverse)')
  t.notMatch(describePolicy(validPolicy(HEAD + EP)), 'sync order', 'no order line without references')
})
