// The reference API's in-memory store: objects per resource type and tenant, with a version per
// object, pages in id order from a sorted index, and writes that can reach readers only after a
// lag (a store whose reads come from a replica behind the primary). Flavours and faults belong to
// the HTTP layer; calling the store directly sees and changes the truth.
import { SortedIds } from './sorted-ids.ts'
import type { ResourceType } from './resource-types.ts'

/** Stored objects are frozen: readers share them, and a stray mutation throws instead of corrupting the store. */
export interface StoredObject {
  readonly id: string
  readonly tenant: string
  readonly version: number
  /** ISO time of the write. */
  readonly updatedAt: string
  readonly [field: string]: unknown
}

/** `latest`: every write so far. `visible`: what a reader sees now, writes still within their lag left out. */
export type View = 'latest' | 'visible'

export interface WriteOptions {
  /** Readers of the `visible` view see this write only after this many ms (default 0: at once). */
  lagMs?: number
  /** The time (ms since the epoch) recorded as `updatedAt`; default now. */
  updatedAt?: number
}

export interface ListOptions {
  /** Start after this id (ids are ordered by UTF-16 code units, as `<` compares strings). */
  after?: string
  /** Default: no limit. */
  limit?: number
  view?: View
}

export interface Page<T> {
  items: T[]
  /** True when more items follow the last one returned. */
  more: boolean
}

interface Write {
  visibleAt: number
  value: StoredObject | undefined
}

/** An id with writes readers cannot see yet. */
interface Lagging {
  /** What readers see now (visibleAt -Infinity), then the hidden writes, oldest first. */
  writes: Write[]
  /** Drops writes once visible; cleared when a write without lag supersedes them. */
  timer: NodeJS.Timeout
}

interface Table {
  readonly type: ResourceType
  readonly tenant: string
  readonly latest: Map<string, StoredObject>
  /** Every id a reader may see: the latest ones plus deleted ones whose delete still lags. */
  readonly ids: SortedIds
  readonly lagging: Map<string, Lagging>
}

export class ReferenceStore {
  #tables = new Map<string, Table>()
  #tenants = new SortedIds()
  #objectsPerTenant = new Map<string, number>()
  #createdTenants = new Set<string>()

  get(type: ResourceType, tenant: string, id: string, view: View = 'latest'): StoredObject | undefined {
    const table = this.#tables.get(tableKey(type, tenant))
    if (!table) return undefined
    return view === 'latest' ? table.latest.get(id) : visible(table, id, Date.now())
  }

  /** One page of a tenant's objects of one type, in id order. */
  list(type: ResourceType, tenant: string, { after, limit = Infinity, view = 'latest' }: ListOptions = {}): Page<StoredObject> {
    const table = this.#tables.get(tableKey(type, tenant))
    if (!table) return { items: [], more: false }
    const now = Date.now()
    return page(table.ids, after, limit, id => view === 'latest' ? table.latest.get(id) : visible(table, id, now))
  }

  /** The object `put` would store, without storing it. */
  preview(type: ResourceType, tenant: string, id: string, body: Record<string, unknown>, options: WriteOptions = {}): StoredObject {
    const given = body['version']
    const version = typeof given === 'number' ? given : (this.get(type, tenant, id)?.version ?? 0) + 1
    const updatedAt = new Date(options.updatedAt ?? Date.now()).toISOString()
    // id and tenant first for readers; the store's four fields win over the body's.
    return deepFreeze(Object.assign({ id, tenant }, structuredClone(body), { id, tenant, version, updatedAt }))
  }

  /**
   * Creates or replaces an object. `id`, `tenant`, `version` and `updatedAt` are the store's:
   * a numeric `version` in the body is kept as given (a sync copying objects keeps their
   * versions), otherwise the version is the previous one plus 1, or 1 on create.
   *
   * @example store.put('alert-rule', 'acme', 'cpu-high', { name: 'CPU high', threshold: 0.9 })
   */
  put(type: ResourceType, tenant: string, id: string, body: Record<string, unknown>, options: WriteOptions = {}): StoredObject {
    const object = this.preview(type, tenant, id, body, options)
    this.#write(type, tenant, id, object, options.lagMs ?? 0)
    return object
  }

  /** False when there was nothing to delete. */
  delete(type: ResourceType, tenant: string, id: string, options: Pick<WriteOptions, 'lagMs'> = {}): boolean {
    if (!this.get(type, tenant, id)) return false
    this.#write(type, tenant, id, undefined, options.lagMs ?? 0)
    return true
  }

  /** Lists a tenant even while it has no objects. */
  addTenant(tenant: string): void {
    this.#createdTenants.add(tenant)
    this.#tenants.add(tenant)
  }

  /** Tenants that hold any object or were added, in id order. Not lagged. */
  tenants({ after, limit = Infinity }: Omit<ListOptions, 'view'> = {}): Page<string> {
    return page(this.#tenants, after, limit, id => id)
  }

  /** How many objects the store holds, of one type and one tenant when given. */
  count(type?: ResourceType, tenant?: string): number {
    let total = 0
    for (const table of this.#tables.values()) {
      if ((type ?? table.type) === table.type && (tenant ?? table.tenant) === table.tenant) total += table.latest.size
    }
    return total
  }

  /** Every object, keyed `type/tenant/id`. */
  snapshot(): Record<string, StoredObject> {
    const all: Record<string, StoredObject> = {}
    for (const table of this.#tables.values()) {
      for (const [id, object] of table.latest) all[`${table.type}/${table.tenant}/${id}`] = object
    }
    return all
  }

  #write(type: ResourceType, tenant: string, id: string, value: StoredObject | undefined, lagMs: number): void {
    const table = this.#table(type, tenant)
    const before = table.latest.get(id)
    let lagging = table.lagging.get(id)
    if (lagMs > 0) {
      if (!lagging) {
        lagging = { writes: [{ visibleAt: -Infinity, value: before }], timer: this.#settleLater(table, id, lagMs) }
        table.lagging.set(id, lagging)
      }
      // Never before an earlier write, even if the lag was shortened since: readers see writes in order.
      lagging.writes.push({ visibleAt: Math.max(Date.now() + lagMs, lagging.writes.at(-1)!.visibleAt), value })
    } else if (lagging) {
      clearTimeout(lagging.timer)
      table.lagging.delete(id)
    }
    if (value) {
      table.latest.set(id, value)
      table.ids.add(id)
    } else {
      table.latest.delete(id)
      if (!table.lagging.has(id)) table.ids.delete(id)
    }
    this.#countObjects(tenant, (value ? 1 : 0) - (before ? 1 : 0))
  }

  #settleLater(table: Table, id: string, delayMs: number): NodeJS.Timeout {
    return setTimeout(() => this.#settle(table, id), delayMs).unref()
  }

  /** Forgets the writes readers now see; checks again when the next hidden one is due. */
  #settle(table: Table, id: string): void {
    const lagging = table.lagging.get(id)!
    const now = Date.now()
    const { writes } = lagging
    while (writes.length > 1 && writes[1]!.visibleAt <= now) writes.shift()
    if (writes.length > 1) {
      lagging.timer = this.#settleLater(table, id, writes[1]!.visibleAt - now)
      return
    }
    table.lagging.delete(id)
    if (!table.latest.has(id)) table.ids.delete(id)
  }

  #table(type: ResourceType, tenant: string): Table {
    const key = tableKey(type, tenant)
    let table = this.#tables.get(key)
    if (!table) {
      table = { type, tenant, latest: new Map(), ids: new SortedIds(), lagging: new Map() }
      this.#tables.set(key, table)
    }
    return table
  }

  #countObjects(tenant: string, delta: number): void {
    const count = (this.#objectsPerTenant.get(tenant) ?? 0) + delta
    if (count > 0) {
      this.#objectsPerTenant.set(tenant, count)
      this.#tenants.add(tenant)
    } else {
      this.#objectsPerTenant.delete(tenant)
      if (!this.#createdTenants.has(tenant)) this.#tenants.delete(tenant)
    }
  }
}

function tableKey(type: ResourceType, tenant: string): string {
  return `${type}\u0000${tenant}`
}

function visible(table: Table, id: string, now: number): StoredObject | undefined {
  const lagging = table.lagging.get(id)
  if (!lagging) return table.latest.get(id)
  let shown: StoredObject | undefined
  for (const write of lagging.writes) {
    if (write.visibleAt > now) break
    shown = write.value
  }
  return shown
}

/** Up to `limit` readable ids after `after`; ids that read as undefined are skipped. */
function page<T>(ids: SortedIds, after: string | undefined, limit: number, read: (id: string) => T | undefined): Page<T> {
  const items: T[] = []
  let i = ids.indexAfter(after)
  for (let id = ids.at(i); id !== undefined; id = ids.at(++i)) {
    const item = read(id)
    if (item === undefined) continue
    if (items.length === limit) return { items, more: true }
    items.push(item)
  }
  return { items, more: false }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
