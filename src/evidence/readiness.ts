// Readiness to promote, per rule and per slice, from the fleet's numbers: what /status, /ui and
// `dualread parity` show. A rule is ready when every slice of it is; no evidence is never a pass.
import type { Policy } from '../policy/schema.ts'
import { judgeRule, type Readiness, type SliceVerdict } from './judge.ts'
import type { FleetSnapshot } from './recorder.ts'

export interface RuleReadiness {
  readiness: Readiness
  readinessReason: string
  slices: SliceVerdict[]
}

export function fleetReadiness(policy: Policy, fleet: FleetSnapshot, now: number): Map<string, RuleReadiness> {
  return new Map(policy.rules.map(rule => [rule.name, ruleReadiness(judgeRule(policy, rule, fleet.buckets, now), fleet)]))
}

function ruleReadiness(slices: SliceVerdict[], fleet: FleetSnapshot): RuleReadiness {
  const of = (readiness: Readiness) => slices.filter(s => s.readiness === readiness)
  const say = (list: SliceVerdict[]) => list.map(s => slices.length > 1 ? `${s.resourceType}: ${s.reason}` : s.reason).join('; ')
  const stale = fleet.unavailable ? ` (fleet numbers as of ${new Date(fleet.at).toISOString()}: ${fleet.unavailable})` : ''
  if (of('not-ready').length > 0) return { readiness: 'not-ready', readinessReason: say(of('not-ready')) + stale, slices }
  if (fleet.unavailable) return { readiness: 'inconclusive', readinessReason: `the fleet's evidence cannot be read: ${fleet.unavailable}`, slices }
  if (slices.length === 0) return { readiness: 'inconclusive', readinessReason: 'no comparison in the window across the fleet', slices }
  if (of('inconclusive').length > 0) return { readiness: 'inconclusive', readinessReason: say(of('inconclusive')), slices }
  return { readiness: 'ready', readinessReason: `${say(slices)} (${fleet.replicas} replica(s))`, slices }
}
