// A resource's shape, from the paths it gives: `collection` + `item` (a list, and each object at
// its own path), `collection` alone (a list with no item path), or `singleton` (one document).
// The shape decides which paths the proxy matches, how two answers are compared, and what the
// sync lists and writes; each of those asks this module.
import type { KeyPath } from './problems.ts'
import type { Policy, Resource } from './schema.ts'
import { describeWrites } from './write-style.ts'

export type ResourceShape = 'collection+item' | 'collection' | 'singleton'

/** Which of a resource's paths a request addressed. */
export type ResourceKind = 'collection' | 'item' | 'singleton'

export function shapeOf(resource: Resource): ResourceShape {
  if (resource.singleton !== undefined) return 'singleton'
  return resource.item === undefined ? 'collection' : 'collection+item'
}

/** The path patterns a resource answers on, each with what it addresses. */
export function routesOf(resource: Resource): Array<{ kind: ResourceKind, pattern: string }> {
  const routes: Array<{ kind: ResourceKind, pattern: string }> = []
  for (const kind of ['collection', 'item', 'singleton'] as const) {
    const pattern = resource[kind]
    if (pattern !== undefined) routes.push({ kind, pattern })
  }
  return routes
}

/** The `:name` parameters of a path pattern, in order (a find-my-way regex suffix left out). */
export function pathParams(pattern: string): string[] {
  return pattern.split('/').filter(s => s.startsWith(':')).map(s => s.slice(1).replace(/\(.*$/, ''))
}

/** Where the sync lists a resource's objects: its collection, or its one document. */
export function listingPath(resource: Resource): string {
  return resource.singleton ?? resource.collection!
}

/**
 * Whether the sync copies the resource's objects: not with `sync: false` (read-only), and only
 * where it can write them one by one (an item path, or a singleton).
 */
export function isSynced(resource: Resource): boolean {
  return resource.sync && (resource.item !== undefined || resource.singleton !== undefined)
}

/**
 * An item path's parameters that identify an object (all but the tenant), in path order: the
 * last is the object's `id`, the others are found in it at `params`.
 */
export function keyParams(item: string, tenantParam: string): string[] {
  return pathParams(item).filter(p => p !== tenantParam)
}

/**
 * Where an object of a list holds what identifies it, in item-path order: each `params` pointer,
 * then `id`. A collection alone, or an item path with one parameter besides the tenant: [id].
 */
export function keyPointers(resource: Resource): string[] {
  const named = resource.item === undefined ? [] : pathParams(resource.item).filter(p => Object.hasOwn(resource.params, p))
  return [...named.map(p => resource.params[p]!), resource.id]
}

/**
 * One object's key (its id in the sync's keys) from the values that identify it: one value as
 * it is (so keys stay what they were for single-id paths), several URI-encoded and joined by "/".
 * @example joinKey(['r1']) // 'r1'; joinKey(['eu/1', 'r1']) // 'eu%2F1/r1'
 */
export function joinKey(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : values.map(v => encodeURIComponent(v)).join('/')
}

/** The values joinKey joined, `count` of them. */
export function splitKey(key: string, count: number): string[] {
  return count <= 1 ? [key] : key.split('/').map(v => decodeURIComponent(v))
}

/**
 * A path pattern with the tenant and, from an object's key, the parameters that identify it
 * filled in, each URI-encoded: where the sync reads or writes one object, and where a reference
 * is looked up.
 * @example fillPath('/t/:tenant/rules/:id', 'tenant', 'acme', 'r 1') // '/t/acme/rules/r%201'
 */
export function fillPath(pattern: string, tenantParam: string, tenant: string, key = ''): string {
  const values = splitKey(key, keyParams(pattern, tenantParam).length)
  let next = 0
  return pattern.split('/').map(segment => {
    if (!segment.startsWith(':')) return segment
    if (segment.slice(1).replace(/\(.*$/, '') === tenantParam) return encodeURIComponent(tenant)
    return encodeURIComponent(values[next++]!)
  }).join('/')
}

/**
 * The key of the object a matched request path addresses: an item's from its parameters, a
 * singleton's is "" (its one document), a collection has none.
 */
export function keyOfMatch(resource: Resource, kind: ResourceKind, tenantParam: string, params: Record<string, string | undefined>): string | undefined {
  if (kind === 'singleton') return ''
  if (kind !== 'item') return undefined
  // A matched route has every one of its parameters.
  return joinKey(keyParams(resource.item!, tenantParam).map(p => String(params[p])))
}

export interface ShapeProblem {
  /** Relative to the resource. */
  path: KeyPath
  message: string
  fix: string
}

/** What makes a resource's paths an impossible shape, or leaves the sync unable to fill a path. */
export function shapeProblems(resource: Resource, tenantParam: string): ShapeProblem[] {
  const problems: ShapeProblem[] = []
  const problem = (path: KeyPath, message: string, fix: string) => problems.push({ path, message, fix })
  const { collection, item, singleton } = resource
  const others = (pattern: string) => pathParams(pattern).filter(p => p !== tenantParam)
  if (singleton !== undefined) {
    if (collection !== undefined || item !== undefined) {
      problem([collection !== undefined ? 'collection' : 'item'], 'a singleton is one document: it has no collection or item path', 'remove collection and item, or remove singleton and describe the list')
    }
    const extra = others(singleton)
    if (extra.length > 0) problem(['singleton'], `the singleton path has parameters other than :${tenantParam} (${extra.map(p => `:${p}`).join(', ')}), which nothing can fill in`, `a singleton is one document per tenant: keep only :${tenantParam} in its path, or describe these objects as collection + item`)
    return problems
  }
  if (collection === undefined) {
    if (item === undefined) problem([], 'a resource needs its paths: collection (a list), collection and item, or singleton (one document)', 'add collection: (and item:), or singleton:')
    else problem(['item'], 'an item path needs its collection: the list the sync walks to find the objects', 'add collection:, or use singleton: for one document without a list')
    return problems
  }
  const listed = others(collection)
  if (listed.length > 0) problem(['collection'], `the collection path has parameters other than :${tenantParam} (${listed.map(p => `:${p}`).join(', ')}): the sync knows only the tenants it lists`, `list the objects through a path whose only parameter is :${tenantParam}, and give the other item-path parameters under params`)
  if (item === undefined) {
    for (const name of Object.keys(resource.params)) problem(['params', name], 'params belong to an item path, and this resource has none', 'remove params, or add item:')
    return problems
  }
  const ids = others(item)
  if (ids.length === 0) {
    problem(['item'], `the item path has no parameter for the object's id (only :${tenantParam})`, 'end the item path with the id parameter, for example /rules/:id, or use singleton: for one document')
    return problems
  }
  const last = ids[ids.length - 1]!
  for (const name of ids.slice(0, -1)) {
    if (!Object.hasOwn(resource.params, name)) problem(['params'], `the item path's :${name} has no pointer: the sync cannot fill it in for an object it listed`, `add params: { ${name}: /${name} } with the pointer where an object holds it`)
  }
  for (const name of Object.keys(resource.params)) {
    if (name === last) problem(['params', name], `:${name} is the item path's last parameter: the object's id, found at id (${resource.id})`, `remove params.${name}; set id: instead`)
    else if (!ids.includes(name)) problem(['params', name], `the item path ${item} has no :${name}`, `remove params.${name}, or add :${name} to the item path`)
  }
  return problems
}

const SHAPE_NAMES: Record<ResourceShape, string> = {
  'collection+item': 'collection + item',
  collection: 'collection without an item path',
  singleton: 'singleton',
}

/**
 * The resource's shape in words, for `policy check`: its name, then what each path answers and
 * how it is compared, then what the sync does with it.
 * @example describeShape(policy.resources[0], policy) // ['collection + item', 'list:   /api/v1/...', ...]
 */
export function describeShape(resource: Resource, policy: Policy): string[] {
  const shape = shapeOf(resource)
  const method = resource.write.method === 'PUT' ? 'PUT' : `${resource.write.method} (write.method)`
  const readOnly = 'sync:   none (sync: false: compared, never written)'
  if (resource.singleton !== undefined) {
    return [SHAPE_NAMES[shape], `object: ${resource.singleton}, one document compared whole`, resource.sync ? `sync:   ${method} ${resource.singleton}, DELETE when the source has none` : readOnly]
  }
  const { list } = resource
  const items = list.items === '' ? 'the answer is the array itself' : `items at ${list.items}, next page at ${list.next}`
  const keys = keyPointers(resource)
  const lines = [SHAPE_NAMES[shape], `list:   ${resource.collection!} (${items}), compared as a set of items matched by ${pairingPointers(resource).join(' + ')}`]
  const absent = Object.entries(resource.absentWhen).map(([p, values]) => `${p} is ${values.map(v => JSON.stringify(v)).join(' or ')}`)
  if (absent.length > 0) lines.push(`absent: items whose ${absent.join(', or whose ')} (absentWhen): not compared, not synced`)
  if (resource.item === undefined) return [...lines, resource.sync ? 'sync:   none (no path to write one object to)' : readOnly]
  const params = keyParams(resource.item, policy.identity.tenant.pathParam)
  const from = params.length > 1 ? `; ${params.map((p, i) => `:${p} from ${keys[i]!}`).join(', ')}` : ''
  const custom = resource.write.create !== undefined || resource.write.update !== undefined || resource.write.delete !== undefined || resource.naturalKey !== undefined
  const sync = !resource.sync ? [readOnly] : custom ? describeWrites(resource).map(line => `sync:   ${line}`) : [`sync:   ${method} item, DELETE item`]
  return [...lines, `object: ${resource.item}, compared whole${from}`, ...sync]
}

/**
 * Where a list's objects are paired across the two stores: the natural key when each store
 * assigns its own ids, otherwise what identifies an object (keyPointers).
 */
export function pairingPointers(resource: Resource): string[] {
  return resource.naturalKey ?? keyPointers(resource)
}
