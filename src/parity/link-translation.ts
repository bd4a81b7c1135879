// Links to objects whose stores each assign their own ids (a `references` entry naming a type with
// a `naturalKey`): the old store's rule names its escalation policy by old's id, the new store's
// by new's. Copied as they are, the new store's rules would name an object new does not have, or
// (with ids both stores count up) a different one: the wrong team paged. The sync translates a
// source object's links into the target's ids before comparing and writing it; a shadow
// comparison reads the new answer's links in old's ids, so the two answers compare as equal when
// they name the same objects. Both go through the sync's id map.
import type { ResourceKind } from '../policy/compile.ts'
import type { Policy, Resource, Side } from '../policy/schema.ts'
import { listingPath } from '../policy/shape.ts'
import type { IdMap } from '../state/id-map.ts'
import { parsePointer, setOwn, valueAt, WILDCARD } from './pointer.ts'

/** A link the id map does not pair: its value was kept. */
export interface UnpairedLink {
  type: string
  id: string
  pointer: string
}

interface Link {
  segments: string[]
  pointer: string
  named: Resource
  /** The id map's tenant for the named type: the referring object's, or '' for a type without one. */
  tenantScoped: boolean
}

/** Where one link's value sits: an object's own key, or an array's index. */
interface Slot {
  holder: Record<string, unknown> | unknown[]
  key: string | number
  id: string
  /** The link was a number (and stays one when the partner id is). */
  numeric: boolean
  link: Link
}

export class LinkTranslator {
  readonly #links = new Map<string, Link[]>()
  readonly #items = new Map<string, string[]>()

  /** The policy's links to types with a natural key, compiled once per policy. */
  constructor(policy: Policy) {
    const byType = new Map(policy.resources.map(r => [r.type, r]))
    const tenantParam = `:${policy.identity.tenant.pathParam}`
    for (const r of policy.resources) {
      const links = Object.entries(r.references).flatMap(([pointer, type]): Link[] => {
        const named = byType.get(type)
        if (named?.naturalKey === undefined) return []
        return [{ segments: parsePointer(pointer), pointer, named, tenantScoped: listingPath(named).split('/').includes(tenantParam) }]
      })
      if (links.length === 0) continue
      this.#links.set(r.type, links)
      this.#items.set(r.type, parsePointer(r.list.items))
    }
  }

  /** Whether objects of `resourceType` hold links that need translating. */
  translates(resourceType: string): boolean {
    return this.#links.has(resourceType)
  }

  /**
   * A copy of `doc` (an item, a singleton, or a list page: `kind`) whose links to objects of
   * natural-key types name them by `to`'s ids, found in the id map as the partners of the other
   * side's; `doc` itself when it has none. `tenant`: the object's (undefined for a resource
   * without one). A link the map does not pair keeps its value and is listed in `unpaired`. A
   * number stays a number when the partner id is one.
   * @example await t.translate('alert-rule', 'item', { escalationPolicyId: 'ep-1' }, 'acme', 'new', ids) // { doc: { escalationPolicyId: '9f3…' }, unpaired: [] }
   */
  async translate(resourceType: string, kind: ResourceKind, doc: unknown, tenant: string | undefined, to: Side, ids: Pick<IdMap, 'otherId'>): Promise<{ doc: unknown, unpaired: UnpairedLink[] }> {
    const links = this.#links.get(resourceType)
    if (links === undefined) return { doc, unpaired: [] }
    const copy = structuredClone(doc)
    const slots: Slot[] = []
    const objects = kind === 'collection' ? valueAt(copy, this.#items.get(resourceType)!) : [copy]
    if (Array.isArray(objects)) for (const object of objects) for (const link of links) findSlots(object, link, 0, slots)
    if (slots.length === 0) return { doc, unpaired: [] }
    const partners = new Map<string, Promise<string | undefined>>()
    const unpaired: UnpairedLink[] = []
    for (const slot of slots) {
      const { named, tenantScoped } = slot.link
      const key = `${named.type}\u0000${slot.id}`
      let partner = partners.get(key)
      // (A resource without a tenant names only types without one: policy check makes sure.)
      if (partner === undefined) partners.set(key, partner = ids.otherId(to, named.type, tenantScoped ? tenant ?? '' : '', slot.id))
      const other = await partner
      if (other === undefined) {
        unpaired.push({ type: named.type, id: slot.id, pointer: slot.link.pointer })
        continue
      }
      const value = slot.numeric && String(Number(other)) === other ? Number(other) : other
      // (setOwn: a key named __proto__ is data, as JSON.parse made it.)
      if (Array.isArray(slot.holder)) slot.holder[slot.key as number] = value
      else setOwn(slot.holder, slot.key as string, value)
    }
    return { doc: copy, unpaired }
  }
}

/** Every link value at `link`'s pointer under `value` (`*`: every array element or object value), as slots to write. */
function findSlots(value: unknown, link: Link, at: number, into: Slot[]): void {
  if (value === null || typeof value !== 'object') return
  const segment = link.segments[at]!
  const last = at === link.segments.length - 1
  const keys: Array<string | number> = segment !== WILDCARD ? [segment] : Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value)
  for (const key of keys) {
    let child: unknown
    if (Array.isArray(value)) {
      if (typeof key === 'string' && !/^(?:0|[1-9]\d*)$/.test(key)) continue
      child = value[Number(key)]
    } else {
      if (!Object.hasOwn(value, key)) continue
      child = (value as Record<string, unknown>)[key]
    }
    if (!last) findSlots(child, link, at + 1, into)
    else if ((typeof child === 'string' && child !== '') || (typeof child === 'number' && Number.isFinite(child))) {
      into.push({ holder: value as Record<string, unknown> | unknown[], key: Array.isArray(value) ? Number(key) : key, id: String(child), numeric: typeof child === 'number', link })
    }
  }
}
