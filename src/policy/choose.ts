// Which backend serves a read, and why. Pure: the same inputs always give the same decision.
import type { Policy, Rule, Side } from './schema.ts'

export const REASONS = ['rule', 'percent', 'fallback', 'rollback', 'read-your-writes', 'write', 'passthrough'] as const
export type Reason = typeof REASONS[number]

/** What routing needs to know about a read. */
export interface ReadSlice {
  tenant: string | undefined
  region: string
  resourceType: string
}

/** Emergency overrides set with `dualread rollback`: those slices read from the authority. */
export interface Overrides {
  all: boolean
  rules: ReadonlySet<string>
}

export const NO_OVERRIDES: Overrides = { all: false, rules: new Set() }

export interface Decision {
  rule: Rule
  serve: Side
  reason: Reason
}

const BUCKETS = 10_000

export function otherSide(side: Side): Side {
  return side === 'old' ? 'new' : 'old'
}

/** The first rule whose every `match` dimension contains the slice (first match wins). */
export function matchRule(policy: Policy, slice: ReadSlice): Rule {
  for (const rule of policy.rules) {
    if (ruleMatches(rule, slice)) return rule
  }
  // Validation guarantees a catch-all last rule; this only guards hand-built policies.
  return policy.rules[policy.rules.length - 1]!
}

export function ruleMatches(rule: Rule, slice: ReadSlice): boolean {
  const { tenants, regions, resourceTypes } = rule.match
  if (tenants && (slice.tenant === undefined || !tenants.includes(slice.tenant))) return false
  if (regions && !regions.includes(slice.region)) return false
  if (resourceTypes && !resourceTypes.includes(slice.resourceType)) return false
  return true
}

/**
 * Chooses the serving side: an override or a recent write sends the read to the authority;
 * otherwise the rule's primary, or `new` for the tenants inside the sticky `newPercent` share.
 * @example
 * chooseBackend(policy, { tenant: 'acme', region: 'eu-west-1', resourceType: 'alert-rule' })
 * // → { rule: <eu-canary>, serve: 'old', reason: 'rule' }
 */
export function chooseBackend(policy: Policy, slice: ReadSlice, overrides: Overrides = NO_OVERRIDES, recentWrite = false, authority: Side = policy.authority): Decision {
  const rule = matchRule(policy, slice)
  if (overrides.all || overrides.rules.has(rule.name)) return { rule, serve: authority, reason: 'rollback' }
  if (recentWrite) return { rule, serve: authority, reason: 'read-your-writes' }
  if (rule.primary === 'old' && rule.newPercent > 0 && stickyBucket(slice.tenant ?? '') < rule.newPercent * (BUCKETS / 100)) {
    return { rule, serve: 'new', reason: 'percent' }
  }
  return { rule, serve: rule.primary, reason: 'rule' }
}

/**
 * A tenant's fixed place in [0, 10000): a tenant inside a 10% share stays inside at 20%,
 * so raising `newPercent` only ever moves tenants from old to new, never back.
 */
export function stickyBucket(tenant: string): number {
  // FNV-1a, then murmur3's finalizer so that similar names spread evenly.
  let h = 0x811c9dc5
  for (let i = 0; i < tenant.length; i++) {
    h ^= tenant.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) % BUCKETS
}
