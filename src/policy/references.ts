// References between resource types (`references: { /escalationPolicyId: escalation-policy }`):
// which types may be named (one object found by one id, at its item path), the order the sync
// writes types in (parents before children; deletes the other way round), and the cycles that
// leave no such order.
import type { KeyPath } from './problems.ts'
import type { Policy, Resource } from './schema.ts'
import { keyParams, pathParams } from './shape.ts'

export interface ReferenceProblem {
  path: KeyPath
  severity: 'error'
  message: string
  fix: string
}

/**
 * What makes a policy's references unusable. A reference names one object by one id, so the type
 * it names must be declared with an item path whose only parameter besides the tenant is the id:
 * resolving a link is one read of that path, in the referring object's tenant. A singleton or a
 * list without an item path has no such read. Types that reference each other in a cycle have no
 * parents-first order for the sync.
 */
export function checkReferences(policy: Policy): ReferenceProblem[] {
  const problems: ReferenceProblem[] = []
  const error = (path: KeyPath, message: string, fix: string) => problems.push({ path, severity: 'error', message, fix })
  const tenantParam = policy.identity.tenant.pathParam
  const byType = new Map(policy.resources.map(r => [r.type, r]))
  policy.resources.forEach((r, i) => {
    for (const [pointer, type] of Object.entries(r.references)) {
      const at: KeyPath = ['resources', i, 'references', pointer]
      const named = byType.get(type)
      if (named === undefined) {
        error(at, `references the unknown resource type "${type}"`, byType.size > 1 ? `use one of: ${[...byType.keys()].filter(t => t !== r.type).join(', ')}, or declare ${type} under resources` : `declare ${type} under resources`)
        continue
      }
      if (named.item === undefined) {
        error(at, `${type} has no item path, so a link to one of its objects cannot be resolved (${named.singleton !== undefined ? 'it is a singleton' : 'it is a list without an item path'}); dualread resolves a link by reading the object at its item path`, `give ${type} an item path such as ${named.collection ?? '/…'}/:id, or remove this reference`)
        continue
      }
      const ids = keyParams(named.item, tenantParam)
      if (ids.length > 1) {
        error(at, `${type}'s item path ${named.item} needs ${ids.length} values (${ids.map(p => `:${p}`).join(', ')}), and a link holds one id`, `reference a type whose item path has one parameter besides :${tenantParam}, or remove this reference`)
        continue
      }
      if (pathParams(named.item).includes(tenantParam) && !referrerHasTenant(r, tenantParam)) {
        error(at, `${type}'s item path has :${tenantParam}, and ${r.type}'s paths have none to fill it from`, `reference a type without :${tenantParam} in its item path, or give ${r.type} a tenant-scoped path`)
      }
      // Such a link holds each store's own id of the object: the two stores' values never match.
      const keyed = named.naturalKey === undefined ? -1 : (r.naturalKey ?? []).findIndex(k => onPath(k, pointer))
      if (keyed !== -1) {
        error(['resources', i, 'naturalKey', keyed], `${r.naturalKey![keyed]} holds a link to ${type}, whose stores each assign their own ids, so the two stores' values there differ and no ${r.type} would ever pair`, `pair ${r.type} by fields both stores keep as written (such as /name); the sync translates the link itself`)
      }
    }
  })
  const cycle = findCycle(policy.resources)
  if (cycle !== undefined) {
    const first = policy.resources.findIndex(r => r.type === cycle[0])
    error(['resources', first, 'references'], `references form a cycle (${[...cycle, cycle[0]].join(' → ')}), so the sync has no parents-first order to write them in`, 'remove one of these references (a reference is only needed where a missing object is an incident)')
  }
  return problems
}

/** Whether one pointer is the other, or under it (`*` in the link matching any segment). */
function onPath(key: string, link: string): boolean {
  const [a, b] = [key.split('/'), link.split('/')]
  return a.slice(0, b.length).every((segment, i) => segment === b[i] || b[i] === '*')
}

function referrerHasTenant(resource: Resource, tenantParam: string): boolean {
  return [resource.collection, resource.item, resource.singleton].some(p => p !== undefined && pathParams(p).includes(tenantParam))
}

/** The types a resource's references name, itself included, each once (known types only). */
function parentsOf(resource: Resource, known: ReadonlySet<string>): string[] {
  return [...new Set(Object.values(resource.references))].filter(t => known.has(t))
}

/** A cycle of types (each references the next, the last the first), if any. */
function findCycle(resources: readonly Resource[]): string[] | undefined {
  const known = new Set(resources.map(r => r.type))
  const byType = new Map(resources.map(r => [r.type, r]))
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (type: string): string[] | undefined => {
    if (state.get(type) === 'done') return undefined
    if (state.get(type) === 'open') return stack.slice(stack.indexOf(type))
    state.set(type, 'open')
    stack.push(type)
    for (const parent of parentsOf(byType.get(type)!, known)) {
      const found = visit(parent)
      if (found) return found
    }
    stack.pop()
    state.set(type, 'done')
    return undefined
  }
  for (const r of resources) {
    const found = visit(r.type)
    if (found) return found
  }
  return undefined
}

/**
 * The resources with every referenced type before the types that reference it (parents first),
 * otherwise in the order declared. The sync writes in this order and deletes in its reverse. A
 * valid policy has no cycle; should one reach here, its types keep their declared order.
 * @example parentsFirst([alertRule, escalationPolicy]) // [escalationPolicy, alertRule] when the rule references the policy
 */
export function parentsFirst<R extends Resource>(resources: readonly R[]): R[] {
  const known = new Set(resources.map(r => r.type))
  const placed = new Set<string>()
  const order: R[] = []
  let left = [...resources]
  while (left.length > 0) {
    const ready = left.filter(r => parentsOf(r, known).every(p => p === r.type || placed.has(p)))
    const next = ready.length > 0 ? ready : left
    for (const r of next) {
      order.push(r)
      placed.add(r.type)
    }
    left = left.filter(r => !placed.has(r.type))
  }
  return order
}
