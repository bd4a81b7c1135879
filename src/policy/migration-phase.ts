// Where the migration stands, named after the steps of the cutover (README, "The cutover, in
// policy edits"), derived from the policy in force and the fleet's effective write authority.
// Pure: rollback overrides and live traffic do not change it, only edits and cutovers do.
import type { Policy, Rule, Side } from './schema.ts'

export const MIGRATION_PHASES = [
  'old-only', 'shadow', 'fallback', 'partial-reads-on-new', 'reads-on-new', 'writes-on-new', 'decommission-ready',
] as const
export type MigrationPhase = typeof MIGRATION_PHASES[number]

/** A rule reads every request from new: its primary, or a `newPercent` share of 100. */
function readsNew(rule: Rule): boolean {
  return rule.primary === 'new' || rule.newPercent === 100
}

/**
 * The first of these that holds:
 *
 * | phase | when |
 * | --- | --- |
 * | `decommission-ready` | writes go to new, every rule reads new, and no rule shadow-reads (`shadowPercent: 0`) or falls back (`fallback: false`): nothing depends on old |
 * | `writes-on-new` | the effective authority is new |
 * | `reads-on-new` | every rule reads new (`primary: new`, or `newPercent: 100`) |
 * | `partial-reads-on-new` | some rule has `primary: new` or `newPercent` above 0 |
 * | `shadow` | old serves every read and some rule shadow-reads new (`shadowPercent` above 0) |
 * | `fallback` | old serves every read, nothing is compared, and new serves only when old fails |
 * | `old-only` | old serves every read and new has no part in them |
 *
 * @example
 * migrationPhase(policy, 'old') // → { phase: 'shadow', reason: 'old serves every read; 1 rule(s) shadow-read new' }
 */
export function migrationPhase(policy: Pick<Policy, 'rules' | 'sync'>, authority: Side): { phase: MigrationPhase, reason: string } {
  const { rules } = policy
  const onNew = rules.filter(readsNew).length
  const shadowing = rules.filter(r => r.shadowPercent > 0).length
  const fallingBack = rules.filter(r => r.fallback).length
  if (authority === 'new') {
    if (onNew < rules.length) return { phase: 'writes-on-new', reason: `writes go to new; ${rules.length - onNew} rule(s) still read old` }
    if (shadowing + fallingBack > 0) {
      return { phase: 'writes-on-new', reason: `writes and reads go to new; old is still shadow-read by ${shadowing} rule(s) and a fallback for ${fallingBack}` }
    }
    return {
      phase: 'decommission-ready',
      reason: policy.sync.enabled
        ? 'nothing reads old any more; the sync still copies into it (a rollback target) until sync.enabled is false'
        : 'nothing reads or writes old any more: the sidecar can be removed',
    }
  }
  if (onNew === rules.length) return { phase: 'reads-on-new', reason: 'every rule reads new; writes still go to old' }
  const partial = rules.filter(r => r.primary === 'new' || r.newPercent > 0).length
  if (partial > 0) return { phase: 'partial-reads-on-new', reason: `${partial} of ${rules.length} rule(s) read new in whole or in part` }
  if (shadowing > 0) return { phase: 'shadow', reason: `old serves every read; ${shadowing} rule(s) shadow-read new` }
  if (fallingBack > 0) return { phase: 'fallback', reason: `old serves every read; new serves those of ${fallingBack} rule(s) when old fails` }
  return { phase: 'old-only', reason: 'old serves every read; new has no part in them' }
}
