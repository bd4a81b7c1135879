// Cross-key checks, seen the way an operator sees them: through parsePolicy, with lines and fixes.
import fc from 'fast-check'
import t from 'tap'
import { parsePolicy } from '../../src/policy/parse.ts'
import type { PolicyProblem } from '../../src/policy/problems.ts'
import { checkSemantics } from '../../src/policy/semantic.ts'
import { compilePolicy } from '../../src/policy/compile.ts'
import { policyWith, referencePolicy } from './fixtures.ts'

const HEAD = `version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082 }
authority: old
`

function problems(text: string): { errors: PolicyProblem[], warnings: PolicyProblem[] } {
  const result = parsePolicy(text, 'policy.yaml')
  return { errors: result.ok ? [] : result.errors, warnings: result.warnings }
}

function where(list: PolicyProblem[]): string[] {
  return list.map(p => `${p.line}:${p.column} ${p.key}`)
}

t.test('the reference policy has no semantic problems', async t => {
  t.same(checkSemantics(referencePolicy()), [])
})

t.test('old and new at the same URL is rejected: every comparison would trivially match', async t => {
  const { errors } = problems(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8081 }
authority: old
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['4:10 upstreams.new.url'])
  t.match(errors[0], { message: /same URL/, fix: 'point upstreams.new.url at the new store' })
})

t.test('a YAML alias reusing the old upstream is caught and points at the alias', async t => {
  const { errors } = problems(`version: 1
upstreams:
  old: &store { url: http://127.0.0.1:8081 }
  new: *store
authority: old
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['4:3 upstreams.new.url'])
})

t.test('a resource type defined twice names the second definition', async t => {
  const { errors } = problems(`${HEAD}resources:
  - type: alert-rule
    collection: /a
    item: /a/:id
  - type: alert-rule
    collection: /b
    item: /b/:id
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['10:5 resources[1].type'])
  t.match(errors[0], { message: 'resource type "alert-rule" is defined twice', fix: /distinct type/ })
})

t.test('a pointer that is both critical and ignored is rejected: its drift would never be seen', async t => {
  const { errors } = problems(`${HEAD}resources:
  - type: alert-rule
    collection: /a
    item: /a/:id
    compare:
      ignore: [/updatedAt, /owner]
      critical:
        - /enabled
        - /owner
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['14:11 resources[0].compare.critical[1]'])
  t.match(errors[0], {
    message: '/owner is both critical and ignored, so its drift would never be seen',
    fix: 'remove /owner from compare.ignore or from compare.critical',
  })
})

t.test('two resources claiming the same path pattern are rejected at the second one', async t => {
  const { errors } = problems(`${HEAD}resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
  - type: alert-rule-v2
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:ruleId
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['11:5 resources[1].collection', '12:5 resources[1].item'], 'a different parameter name is still the same path')
  t.match(errors[0], { message: /^path pattern \/api\/v1\/tenants\/:tenant\/alert-rules clashes with another resource/, fix: 'make every collection, item and singleton pattern distinct' })
})

t.test('a collection and an item that are the same pattern clash', async t => {
  const { errors } = problems(`${HEAD}resources:
  - type: settings
    collection: /api/v1/settings
    item: /api/v1/settings
rules:
  - name: default
    primary: old
`)
  t.same(where(errors), ['9:5 resources[0].item', '9:5 resources[0].item'])
  t.match(errors, [{ message: /no parameter for the object's id/ }, { message: /clashes with another resource/ }], 'the item has no id, and it is the collection\'s path')
})

t.test('patterns that differ only by a trailing slash clash (requests ignore trailing slashes)', async t => {
  const text = `${HEAD}resources:
  - type: alert-rule
    collection: /api/v1/alert-rules
    item: /api/v1/alert-rules/:id
  - type: alert-rule-list
    collection: /api/v1/alert-rules/
    item: /api/v1/alert-rule-lists/:id
rules:
  - name: default
    primary: old
`
  const { errors } = problems(text)
  t.same(where(errors), ['11:5 resources[1].collection'])
})

t.test('a policy that passes validation always compiles into a router', async t => {
  // compilePolicy must never throw on a validated policy: the proxy swaps policies in on reload.
  const expected: Record<string, 'clash' | 'ok'> = { '/a/': 'clash', '/a/:x': 'clash', '/A': 'ok', '/b': 'ok' }
  for (const [collection, outcome] of Object.entries(expected)) {
    const result = parsePolicy(`${HEAD}resources:
  - type: one
    collection: /a
    item: /a/:id
  - type: two
    collection: ${collection}
    item: /two/:id
rules:
  - name: default
    primary: old
`, 'policy.yaml')
    if (outcome === 'clash') t.match(result, { ok: false, errors: [{ key: 'resources[1].collection' }] }, `${collection} clashes with /a or /a/:id`)
    else if (result.ok) t.doesNotThrow(() => compilePolicy(result.policy, result.hash), `${collection} compiles`)
    else t.fail(`${collection} was rejected: ${JSON.stringify(result.errors)}`)
  }
})

t.test('any valid set of resource patterns compiles (property)', async t => {
  const segment = fc.constantFrom('a', 'b', 'A', ':tenant', '')
  const pattern = fc.array(segment, { minLength: 1, maxLength: 3 }).map(parts => `/${parts.join('/')}`)
  const itemPattern = fc.tuple(pattern, fc.constantFrom('/:id', '/a/:id', '/:id/b', '')).map(([a, b]) => a + b)
  const resources = fc.array(fc.record({ collection: pattern, item: itemPattern }), { minLength: 1, maxLength: 3 })
  let valid = 0
  fc.assert(fc.property(resources, list => {
    const input = {
      version: 1,
      upstreams: { old: { url: 'http://127.0.0.1:8081' }, new: { url: 'http://127.0.0.1:8082' } },
      authority: 'old',
      resources: list.map((r, i) => ({ type: `r${i}`, ...r })),
      rules: [{ name: 'default', primary: 'old' }],
    }
    const result = parsePolicy(JSON.stringify(input), 'policy.json')
    if (!result.ok) return true
    valid++
    compilePolicy(result.policy, result.hash)
    return true
  }), { numRuns: 500, seed: 7 })
  t.ok(valid > 50, `${valid} generated policies were valid and compiled`)
})

t.test('two rules with the same name are rejected: metrics and rollbacks refer to rules by name', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: canary
    match: { tenants: [acme] }
    primary: new
  - name: canary
    primary: old
`)
  t.same(where(errors), ['10:5 rules[1].name'])
  t.match(errors[0], { message: 'rule name "canary" is already used by rules[0]', fix: /rename one of them/ })
})

t.test('a rule naming an unknown resource type lists the defined types', async t => {
  const { errors } = problems(`${HEAD}resources:
  - type: alert-rule
    collection: /a
    item: /a/:id
  - type: contact-point
    collection: /c
    item: /c/:id
rules:
  - name: rules-on-new
    match: { resourceTypes: [alert-rule, alert-rules] }
    primary: new
  - name: default
    primary: old
`)
  t.same(where(errors), ['15:42 rules[0].match.resourceTypes[1]'])
  t.match(errors[0], { message: 'unknown resource type "alert-rules"', fix: 'use one of: alert-rule, contact-point' })
})

t.test('a rule naming a resource type when none are defined says to define it', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: rules-on-new
    match:
      resourceTypes: [alert-rule]
    primary: new
  - name: default
    primary: old
`)
  t.same(where(errors), ['9:23 rules[0].match.resourceTypes[0]'])
  t.equal(errors[0]!.fix, 'define it under resources first')
})

t.test('newPercent on a rule whose primary is new is only a warning', async t => {
  const result = parsePolicy(`${HEAD}rules:
  - name: all-new
    primary: new
    newPercent: 20
`, 'policy.yaml')
  t.equal(result.ok, true, 'the policy is still accepted')
  t.same(where(result.warnings), ['9:5 rules[0].newPercent'])
  t.match(result.warnings[0], { severity: 'warning', message: 'newPercent has no effect when primary is already new', fix: 'remove newPercent from this rule' })
})

t.test('an unreachable rule is reported with the rule that shadows it', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: eu
    match: { regions: [eu-west-1, eu-central-1] }
    primary: new
  - name: eu-west-alerts
    match: { regions: [eu-west-1], resourceTypes: [alert-rule] }
    primary: old
  - name: default
    primary: old
resources:
  - type: alert-rule
    collection: /a
    item: /a/:id
`)
  t.same(where(errors), ['10:5 rules[1]'])
  t.match(errors[0], {
    message: 'rule "eu-west-alerts" can never match: rule "eu" (rules[0]) comes first and matches everything it matches',
    fix: 'move "eu-west-alerts" above "eu", or delete it',
  })
})

t.test('an unreachable rule names only the first rule that shadows it', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: acme
    match: { tenants: [acme] }
    primary: new
  - name: acme-again
    match: { tenants: [acme, globex] }
    primary: new
  - name: acme-eu
    match: { tenants: [acme], regions: [eu-west-1] }
    primary: old
  - name: default
    primary: old
`)
  t.same(where(errors), ['13:5 rules[2]'])
  t.match(errors[0]!.message, /rule "acme" \(rules\[0\]\)/)
})

t.test('a narrower earlier rule does not hide a wider later one', async t => {
  const result = parsePolicy(`${HEAD}rules:
  - name: acme-eu
    match: { tenants: [acme], regions: [eu-west-1] }
    primary: new
  - name: acme
    match: { tenants: [acme] }
    primary: new
  - name: acme-and-globex
    match: { tenants: [acme, globex] }
    primary: old
    newPercent: 50
  - name: eu
    match: { regions: [eu-west-1] }
    primary: old
  - name: default
    primary: old
`, 'policy.yaml')
  t.equal(result.ok, true)
  t.same(result.warnings, [])
})

t.test('the last rule must match everything', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: acme
    match: { tenants: [acme] }
    primary: new
  - name: eu
    match: { regions: [eu-west-1] }
    primary: old
`)
  t.same(where(errors), ['11:5 rules[1].match'])
  t.match(errors[0], {
    message: 'the last rule "eu" does not match everything, so some reads would have no rule',
    fix: 'add a final rule without "match", for example { name: default, primary: old, fallback: true }',
  })
})

t.test('a catch-all rule that is not last hides every rule after it', async t => {
  const { errors } = problems(`${HEAD}rules:
  - name: default
    primary: old
  - name: acme
    match: { tenants: [acme] }
    primary: new
`)
  t.same(where(errors), ['9:5 rules[1]', '10:5 rules[1].match'])
  t.match(errors[0]!.message, 'rule "acme" can never match: rule "default" (rules[0])')
  t.match(errors[1]!.message, 'the last rule "acme" does not match everything')
})

t.test('an explicitly empty match counts as a catch-all', async t => {
  t.same(checkSemantics(policyWith({ rules: [{ name: 'everything', match: {}, primary: 'old' }] })), [])
})

t.test('a sync applying more keys at once than it has connections to a store is a warning', async t => {
  const result = parsePolicy(`version: 1
upstreams:
  old: { url: http://127.0.0.1:8081 }
  new: { url: http://127.0.0.1:8082, connections: { sync: 2 } }
authority: old
rules:
  - name: default
    primary: old
sync: { concurrency: 8 }
`, 'policy.yaml')
  t.equal(result.ok, true, 'the policy is still accepted')
  t.same(where(result.warnings), ['4:53 upstreams.new.connections.sync'])
  t.match(result.warnings[0], { message: 'the sync applies 8 keys at once (sync.concurrency) over 2 connections, so its calls queue and may fail after queueTimeoutMs', fix: 'raise upstreams.new.connections.sync to at least 8, or lower sync.concurrency' })
})
