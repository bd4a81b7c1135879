// Dangling references: objects that name (through their resource's `references`) an object the
// same store does not have. `dualread sync --once` looks on both sides after its pass: on the
// source it is the data's own problem (the sync copies it as it is), on the target a parent the
// sync could not write. Read-only: each store's listings, no per-link reads.
import type { Policy, Resource, Side } from '../policy/schema.ts'
import { compileReferences, linkTargets } from '../parity/references.ts'
import { isTenantScoped, type ResourceAdapter } from './adapter.ts'
import { storeIdOf } from './store-ids.ts'

/** Dangling references kept for the report at most; the count goes on past it. */
export const MAX_REPORTED = 100

export interface DanglingReference {
  side: Side
  resourceType: string
  /** '' for resources without a tenant. */
  tenant: string
  /** The referring object's key. */
  id: string
  /** Templated pointer of the link. */
  pointer: string
  /** The type and id of the object named, which the side does not have. */
  references: { type: string, id: string }
}

export interface DanglingReport {
  /** Up to MAX_REPORTED of them. */
  found: DanglingReference[]
  count: number
}

/**
 * Every link on `sides` whose object is missing from the same store, for the `tenants` given
 * (resources without a tenant once).
 */
export async function findDangling(policy: Policy, adapters: Record<Side, ResourceAdapter>, tenants: readonly string[], sides: readonly Side[], pageSize: number): Promise<DanglingReport> {
  const report: DanglingReport = { found: [], count: 0 }
  const referring = policy.resources.filter(r => Object.keys(r.references).length > 0)
  if (referring.length === 0) return report
  const byType = new Map(policy.resources.map(r => [r.type, r]))
  for (const side of sides) {
    const adapter = adapters[side]
    for (const tenant of tenants.length > 0 ? tenants : ['']) {
      // The ids of each referenced type in this store and tenant, listed once.
      const known = new Map<string, Set<string>>()
      const idsOf = async (type: string): Promise<Set<string>> => {
        let ids = known.get(type)
        if (ids === undefined) {
          ids = new Set()
          const named = byType.get(type)!
          for await (const item of listAll(adapter, named, scopeOf(named, policy, tenant), pageSize)) {
            // A link names an object by the id its store gave it (the sync keys objects paired by natural key by that key): one without an id is named by none.
            const id = named.naturalKey === undefined ? item.id : storeIdOf(named, item.doc)
            if (id !== undefined) ids.add(id)
          }
          known.set(type, ids)
        }
        return ids
      }
      for (const resource of referring) {
        const scope = scopeOf(resource, policy, tenant)
        // A resource without a tenant is looked at once, with the first tenant.
        if (scope === '' && tenant !== (tenants[0] ?? '')) continue
        const plan = compileReferences(resource)!
        for await (const item of listAll(adapter, resource, scope, pageSize)) {
          for (const target of linkTargets(plan, 'item', item.doc)) {
            if ((await idsOf(target.type)).has(target.id)) continue
            report.count++
            if (report.found.length < MAX_REPORTED) {
              report.found.push({ side, resourceType: resource.type, tenant: scope, id: item.id, pointer: target.pointers[0]!, references: { type: target.type, id: target.id } })
            }
          }
        }
      }
    }
  }
  return report
}

/**
 * One line per dangling reference, for the terminal.
 * @example describeDangling(d) // 'new: alert-rule acme/r1 names escalation-policy "ep-1" at /escalationPolicyId, which new does not have'
 */
export function describeDangling(d: DanglingReference): string {
  const where = d.tenant === '' ? d.id : `${d.tenant}/${d.id}`
  return `${d.side}: ${d.resourceType} ${where} names ${d.references.type} "${d.references.id}" at ${d.pointer}, which ${d.side} does not have`
}

/** What `sync --once` prints: every dangling reference kept, how many more, and what to do. */
export function renderDangling(report: DanglingReport): string {
  const more = report.count - report.found.length
  return [
    `dangling references (an object names one its own store does not have):`,
    ...report.found.map(d => `  ${describeDangling(d)}`),
    ...more > 0 ? [`  … and ${more} more`] : [],
    '  fix: create the missing object on the source (the sync then copies it), or change or remove the link; on the target only, run the sync again (it writes parents first)',
  ].join('\n') + '\n'
}

function scopeOf(resource: Resource, policy: Policy, tenant: string): string {
  return isTenantScoped(resource, policy) ? tenant : ''
}

async function* listAll(adapter: ResourceAdapter, resource: Resource, tenant: string, pageSize: number) {
  let next: string | undefined
  do {
    const page = await adapter.listPage(resource, tenant, next, pageSize)
    yield* page.items
    next = page.next
  } while (next !== undefined)
}
