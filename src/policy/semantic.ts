// Cross-key checks the schema cannot express: unique names, a catch-all last rule,
// rules shadowed by an earlier one, references to unknown resource types, conflicting routes,
// a sync busier than its connections.
import Router from 'find-my-way'
import { NO_HANDLER, ROUTER_OPTIONS } from './compile.ts'
import type { KeyPath } from './problems.ts'
import { SIDES, type Policy, type Rule } from './schema.ts'
import { routesOf, shapeProblems } from './shape.ts'
import { writeProblems } from './write-style.ts'

export interface SemanticProblem {
  path: KeyPath
  severity: 'error' | 'warning'
  message: string
  fix: string
}

type MatchKey = keyof Rule['match']
const MATCH_KEYS: MatchKey[] = ['tenants', 'regions', 'resourceTypes']

export function checkSemantics(policy: Policy): SemanticProblem[] {
  const problems: SemanticProblem[] = []
  const error = (path: KeyPath, message: string, fix: string) => problems.push({ path, severity: 'error', message, fix })
  const warn = (path: KeyPath, message: string, fix: string) => problems.push({ path, severity: 'warning', message, fix })

  if (policy.upstreams.old.url === policy.upstreams.new.url) {
    error(['upstreams', 'new', 'url'], 'old and new point at the same URL, so every comparison would trivially match', 'point upstreams.new.url at the new store')
  }
  for (const side of SIDES) {
    const { sync } = policy.upstreams[side].connections
    if (policy.sync.concurrency > sync) {
      warn(['upstreams', side, 'connections', 'sync'], `the sync applies ${policy.sync.concurrency} keys at once (sync.concurrency) over ${sync} connections, so its calls queue and may fail after queueTimeoutMs`, `raise upstreams.${side}.connections.sync to at least ${policy.sync.concurrency}, or lower sync.concurrency`)
    }
  }

  const types = new Set<string>()
  policy.resources.forEach((r, i) => {
    if (types.has(r.type)) error(['resources', i, 'type'], `resource type "${r.type}" is defined twice`, 'give each resource a distinct type or merge the two entries')
    types.add(r.type)
    for (const p of shapeProblems(r, policy.identity.tenant.pathParam)) error(['resources', i, ...p.path], p.message, p.fix)
    for (const p of writeProblems(r)) error(['resources', i, ...p.path], p.message, p.fix)
    const ignored = new Set(r.compare.ignore)
    r.compare.critical.forEach((p, k) => {
      if (ignored.has(p)) error(['resources', i, 'compare', 'critical', k], `${p} is both critical and ignored, so its drift would never be seen`, `remove ${p} from compare.ignore or from compare.critical`)
    })
  })
  checkRoutes(policy, error)

  const names = new Map<string, number>()
  policy.rules.forEach((rule, i) => {
    const first = names.get(rule.name)
    if (first !== undefined) error(['rules', i, 'name'], `rule name "${rule.name}" is already used by rules[${first}]`, 'rename one of them: metrics, headers and rollbacks refer to rules by name')
    else names.set(rule.name, i)
    rule.match.resourceTypes?.forEach((t, k) => {
      if (!types.has(t)) error(['rules', i, 'match', 'resourceTypes', k], `unknown resource type "${t}"`, types.size > 0 ? `use one of: ${[...types].join(', ')}` : 'define it under resources first')
    })
    if (rule.primary === 'new' && rule.newPercent > 0) warn(['rules', i, 'newPercent'], 'newPercent has no effect when primary is already new', 'remove newPercent from this rule')
    for (let j = 0; j < i; j++) {
      const earlier = policy.rules[j]!
      if (covers(earlier, rule)) {
        error(['rules', i], `rule "${rule.name}" can never match: rule "${earlier.name}" (rules[${j}]) comes first and matches everything it matches`, `move "${rule.name}" above "${earlier.name}", or delete it`)
        break
      }
    }
  })
  const last = policy.rules.length - 1
  const lastRule = policy.rules[last]!
  if (!isCatchAll(lastRule)) {
    error(['rules', last, 'match'], `the last rule "${lastRule.name}" does not match everything, so some reads would have no rule`, 'add a final rule without "match", for example { name: default, primary: old, fallback: true }')
  }
  return problems
}

function isCatchAll(rule: Rule): boolean {
  return MATCH_KEYS.every(k => rule.match[k] === undefined)
}

/** True when every request `later` matches is also matched by `earlier`. */
function covers(earlier: Rule, later: Rule): boolean {
  return MATCH_KEYS.every(k => {
    const wide = earlier.match[k]
    const narrow = later.match[k]
    if (wide === undefined) return true
    if (narrow === undefined) return false
    return narrow.every(v => wide.includes(v))
  })
}

function checkRoutes(policy: Policy, error: (path: KeyPath, message: string, fix: string) => void) {
  const router = Router(ROUTER_OPTIONS)
  policy.resources.forEach((r, i) => {
    for (const { kind, pattern } of routesOf(r)) {
      try {
        router.on('GET', pattern, NO_HANDLER)
      } catch (e) {
        error(['resources', i, kind], `path pattern ${pattern} clashes with another resource: ${(e as Error).message}`, 'make every collection, item and singleton pattern distinct')
      }
    }
  })
}
