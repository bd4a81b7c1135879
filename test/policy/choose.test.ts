import fc from 'fast-check'
import t from 'tap'
import { chooseBackend, matchRule, NO_OVERRIDES, otherSide, ruleMatches, stickyBucket, type ReadSlice } from '../../src/policy/choose.ts'
import type { Policy } from '../../src/policy/schema.ts'
import { policyWith, referencePolicy } from './fixtures.ts'

const reference = referencePolicy()

function slice(tenant: string | undefined, region = 'us-east-1', resourceType = 'alert-rule'): ReadSlice {
  return { tenant, region, resourceType }
}

/** Old is primary, and a sticky `percent` share of tenants reads from new. */
function canary(percent: number): Policy {
  return policyWith({ rules: [{ name: 'canary', primary: 'old', newPercent: percent }] })
}

/** The first tenant named `${prefix}N` that `accept`s its bucket. */
function findTenant(prefix: string, accept: (bucket: number) => boolean): string {
  for (let i = 0; ; i++) {
    if (accept(stickyBucket(`${prefix}${i}`))) return `${prefix}${i}`
  }
}

t.test('first match wins', async t => {
  // acme's alert rules in eu-west-1 match both acme-on-new and eu-canary; the earlier rule decides.
  const d = chooseBackend(reference, slice('acme', 'eu-west-1', 'alert-rule'))
  t.equal(d.rule.name, 'acme-on-new')
  t.equal(d.serve, 'new')
  t.equal(d.reason, 'rule')
})

t.test('a rule matches only when every dimension it names contains the read', async t => {
  t.equal(matchRule(reference, slice('acme', 'eu-west-1', 'contact-point')).name, 'eu-canary', 'other resource type of acme falls through')
  t.equal(matchRule(reference, slice('globex', 'us-east-1', 'alert-rule')).name, 'default', 'other tenant falls through')
  t.equal(matchRule(reference, slice('acme', 'us-east-1', 'team')).name, 'default')
  t.equal(matchRule(reference, slice('globex', 'eu-west-1', 'team')).name, 'eu-canary')
})

t.test('a read without a tenant never matches a rule that names tenants', async t => {
  const acmeRule = reference.rules[0]!
  t.equal(ruleMatches(acmeRule, slice(undefined, 'us-east-1', 'alert-rule')), false)
  t.equal(ruleMatches(acmeRule, slice('acme', 'us-east-1', 'alert-rule')), true)
  t.equal(chooseBackend(reference, slice(undefined)).rule.name, 'default')
})

t.test('a rule without match matches every read', async t => {
  const catchAll = reference.rules[2]!
  fc.assert(fc.property(fc.option(fc.string(), { nil: undefined }), fc.string(), fc.string(), (tenant, region, type) => {
    return ruleMatches(catchAll, slice(tenant, region, type))
  }))
})

t.test('a hand-built policy without a catch-all falls back to its last rule', async t => {
  // Validation forbids this; the guard keeps a hand-built policy from crashing the proxy.
  const policy = policyWith({
    rules: [
      { name: 'acme', match: { tenants: ['acme'] }, primary: 'new' },
      { name: 'eu', match: { regions: ['eu-west-1'] }, primary: 'old' },
    ],
  })
  t.equal(matchRule(policy, slice('globex', 'us-east-1')).name, 'eu')
})

t.test('a rollback of the matching rule sends its reads to the authority', async t => {
  const rolledBack = { all: false, rules: new Set(['acme-on-new']) }
  const d = chooseBackend(reference, slice('acme', 'us-east-1', 'alert-rule'), rolledBack)
  t.same({ rule: d.rule.name, serve: d.serve, reason: d.reason }, { rule: 'acme-on-new', serve: 'old', reason: 'rollback' })
})

t.test('a rollback of another rule changes nothing', async t => {
  const rolledBack = { all: false, rules: new Set(['eu-canary']) }
  const d = chooseBackend(reference, slice('acme', 'us-east-1', 'alert-rule'), rolledBack)
  t.same({ serve: d.serve, reason: d.reason }, { serve: 'new', reason: 'rule' })
})

t.test('a rollback of all rules sends every read to the authority, even past a recent write', async t => {
  const all = { all: true, rules: new Set<string>() }
  for (const s of [slice('acme'), slice('globex', 'eu-west-1'), slice(undefined)]) {
    const d = chooseBackend(reference, s, all, true)
    t.same({ serve: d.serve, reason: d.reason }, { serve: 'old', reason: 'rollback' })
  }
})

t.test('the authority is whichever side the policy names, also for rollbacks', async t => {
  const policy = policyWith({ authority: 'new', rules: [{ name: 'default', primary: 'old' }] })
  const d = chooseBackend(policy, slice('acme'), { all: false, rules: new Set(['default']) })
  t.same({ serve: d.serve, reason: d.reason }, { serve: 'new', reason: 'rollback' })
})

t.test('a read right after a write goes to the authority (read-your-writes)', async t => {
  const d = chooseBackend(reference, slice('acme', 'us-east-1', 'alert-rule'), NO_OVERRIDES, true)
  t.same({ rule: d.rule.name, serve: d.serve, reason: d.reason }, { rule: 'acme-on-new', serve: 'old', reason: 'read-your-writes' })
})

t.test('sticky newPercent: a tenant inside the share reads from new, one outside from old', async t => {
  const policy = canary(10)
  const inside = findTenant('tenant-', b => b < 1000)
  const outside = findTenant('tenant-', b => b >= 1000)
  t.same(chooseBackend(policy, slice(inside)), { rule: policy.rules[0], serve: 'new', reason: 'percent' })
  t.same(chooseBackend(policy, slice(outside)), { rule: policy.rules[0], serve: 'old', reason: 'rule' })
})

t.test('sticky newPercent: the same tenant always gets the same answer', async t => {
  const policy = canary(37.5)
  fc.assert(fc.property(fc.string(), tenant => {
    return chooseBackend(policy, slice(tenant)).serve === chooseBackend(policy, slice(tenant, 'ap-south-1')).serve
  }))
})

t.test('sticky newPercent: a tenant inside 10% stays inside at 20%', async t => {
  const at10 = canary(10)
  const at20 = canary(20)
  let inside = 0
  for (let i = 0; i < 2000; i++) {
    if (chooseBackend(at10, slice(`tenant-${i}`)).serve !== 'new') continue
    inside++
    t.equal(chooseBackend(at20, slice(`tenant-${i}`)).serve, 'new', `tenant-${i} stays on new`)
  }
  t.ok(inside > 100, `found ${inside} tenants inside the 10% share`)
})

t.test('sticky newPercent: raising the share only ever moves tenants from old to new', async t => {
  fc.assert(fc.property(
    fc.string(),
    fc.double({ min: 0, max: 100, noNaN: true }),
    fc.double({ min: 0, max: 100, noNaN: true }),
    (tenant, a, b) => {
      const [low, high] = a <= b ? [a, b] : [b, a]
      const atLow = chooseBackend(canary(low), slice(tenant)).serve
      const atHigh = chooseBackend(canary(high), slice(tenant)).serve
      return atLow === 'old' || atHigh === 'new'
    },
  ), { numRuns: 2000 })
})

t.test('newPercent 0 keeps every tenant on old and 100 moves every tenant to new', async t => {
  fc.assert(fc.property(fc.option(fc.string(), { nil: undefined }), tenant => {
    return chooseBackend(canary(0), slice(tenant)).serve === 'old' && chooseBackend(canary(100), slice(tenant)).serve === 'new'
  }))
})

t.test('reads without a tenant all land on the same side of the share', async t => {
  const policy = canary(50)
  const side = chooseBackend(policy, slice(undefined)).serve
  t.equal(chooseBackend(policy, slice('')).serve, side, 'no tenant hashes like the empty name')
})

t.test('newPercent is ignored when primary is already new', async t => {
  const policy = policyWith({ rules: [{ name: 'all-new', primary: 'new', newPercent: 10 }] })
  fc.assert(fc.property(fc.string(), tenant => {
    const d = chooseBackend(policy, slice(tenant))
    return d.serve === 'new' && d.reason === 'rule'
  }))
})

t.test('a tenant\'s bucket is a whole number in [0, 10000)', async t => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), tenant => {
    const b = stickyBucket(tenant)
    return Number.isInteger(b) && b >= 0 && b < 10_000
  }))
})

t.test('newPercent over many tenants is close to the asked share', async t => {
  // Realistic names (similar, sequential) and random ones must both spread evenly.
  const sequential = Array.from({ length: 10_000 }, (_, i) => `tenant-${String(i).padStart(5, '0')}`)
  const random = fc.sample(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{2,24}$/), { minLength: 10_000, maxLength: 10_000 }), { numRuns: 1, seed: 42 })[0]!
  for (const [label, tenants] of [['sequential', sequential], ['random', random]] as const) {
    t.equal(new Set(tenants).size, 10_000)
    for (const percent of [1, 5, 10, 25, 50, 75, 90, 99]) {
      const policy = canary(percent)
      const onNew = tenants.filter(tenant => chooseBackend(policy, slice(tenant)).serve === 'new').length
      const share = onNew / tenants.length * 100
      t.ok(Math.abs(share - percent) <= 2, `${label} names at ${percent}%: ${share.toFixed(2)}% on new`)
    }
  }
})

t.test('the other side of old is new and of new is old', async t => {
  t.equal(otherSide('old'), 'new')
  t.equal(otherSide('new'), 'old')
})
