// The full scan: every resource type and tenant, page by page from a checkpoint, then the
// deletions. It is the backfill, and it catches writes that bypassed the proxy.
import type { Policy, Resource, Side } from '../policy/schema.ts'
import type { CheckpointStore } from '../state/checkpoints.ts'
import { parentsFirst } from '../policy/references.ts'
import { isSynced } from '../policy/shape.ts'
import { isTenantScoped, type ResourceAdapter } from './adapter.ts'
import type { KeyApplier } from './apply.ts'
import type { SyncProgress } from './progress.ts'
import type { PassSummary } from './summary.ts'

export interface ScannerOptions {
  policy: Policy
  adapters: Record<Side, ResourceAdapter>
  source: Side
  target: Side
  checkpoints: CheckpointStore
  apply: KeyApplier
  progress: SyncProgress
  /** Throws LeaseLostError once this process may no longer write. */
  fence: () => Promise<void>
}

export class Scanner {
  #o: ScannerOptions

  constructor(o: ScannerOptions) {
    this.#o = o
  }

  /**
   * One full pass: every resource type and tenant, resuming where a checkpoint says; `until` ends
   * it early. Resolves to whether it walked every scope. Types are copied parents first (a
   * referenced type before the types naming it), and deletions wait until every copy is done,
   * then go children first: the target never holds an object whose parent the sync has not
   * written yet, nor loses a parent before its children.
   */
  async pass(summary: PassSummary, until: () => boolean): Promise<boolean> {
    const { policy, progress, apply } = this.#o
    const tenants = await this.#tenants()
    const deletions: Deletions[] = []
    for (const resource of this.#synced()) {
      const scopes = isTenantScoped(resource, policy) ? tenants : ['']
      progress.begin(resource.type, scopes.length)
      for (const tenant of scopes) {
        // A scope checks `until` before each page; ended early, the pass ends with it.
        const copied = await this.#copyScope(resource, tenant, summary, until)
        if (copied === undefined) return false
        if (copied.gone.items.length > 0) deletions.push(copied.gone)
        progress.scopeDone(resource.type, copied.objects)
      }
    }
    for (const d of deletions.reverse()) await apply.applyPage(d.resource, d.tenant, d.items, d.listedFrom, d.targetIndex, summary)
    return true
  }

  /**
   * Makes one tenant's objects of one type equal on the target: the target's objects are
   * listed, then the source's page by page (each page checkpointed once applied), then what the
   * target has and the source does not is deleted. Resolves to how many source objects it
   * applied.
   */
  async scanScope(resource: Resource, tenant: string, summary: PassSummary): Promise<number> {
    // Never ended early: only a pass's `until` does that.
    const copied = (await this.#copyScope(resource, tenant, summary, () => false))!
    const d = copied.gone
    if (d.items.length > 0) await this.#o.apply.applyPage(d.resource, d.tenant, d.items, d.listedFrom, d.targetIndex, summary)
    return copied.objects
  }

  /** The synced resources, parents first. */
  #synced(): Resource[] {
    return parentsFirst(this.#o.policy.resources).filter(isSynced)
  }

  /** A scope's copy (scanScope without the deletions): how many source objects it applied, and what the target has beyond them. */
  async #copyScope(resource: Resource, tenant: string, summary: PassSummary, until: () => boolean): Promise<{ objects: number, gone: Deletions } | undefined> {
    const { checkpoints, apply, source, target } = this.#o
    const scope = `${resource.type}\u0000${tenant}`
    const targetIndex = new Map<string, unknown>()
    for await (const page of this.#pages(target, resource, tenant, undefined)) {
      for (const item of page.items) targetIndex.set(item.id, item.doc)
    }
    const cursor = await checkpoints.getCursor(scope)
    const seen = new Set<string>()
    let listedFrom = Date.now()
    let objects = 0
    for await (const page of this.#pages(source, resource, tenant, cursor)) {
      // Ended early, the scope resumes from its checkpoint; deletions need the whole listing.
      if (until()) return undefined
      await apply.applyPage(resource, tenant, page.items, page.readAt, targetIndex, summary)
      for (const item of page.items) seen.add(item.id)
      objects += page.items.length
      await this.#o.fence()
      await checkpoints.setCursor(scope, page.next)
    }
    if (cursor !== undefined) {
      // Deletions need every source id; the pages before the checkpoint are listed again (not applied).
      listedFrom = Date.now()
      for await (const page of this.#pages(source, resource, tenant, undefined)) for (const item of page.items) seen.add(item.id)
    }
    const gone = [...targetIndex.keys()].filter(id => !seen.has(id))
    // Only what is deleted is kept of the target's listing: a pass holds it until its end.
    const goneIndex = new Map(gone.map(id => [id, targetIndex.get(id)]))
    return { objects, gone: { resource, tenant, items: gone.map(id => ({ id, doc: undefined })), listedFrom, targetIndex: goneIndex } }
  }

  /** How many keys differ between the two sides now (read-only). */
  async differences(): Promise<number> {
    const { policy, source, target } = this.#o
    let count = 0
    const tenants = await this.#tenants()
    for (const resource of this.#synced()) {
      for (const tenant of isTenantScoped(resource, policy) ? tenants : ['']) {
        const [a, b] = await Promise.all([this.#hashes(source, resource, tenant), this.#hashes(target, resource, tenant)])
        for (const [id, hash] of a) if (b.get(id) !== hash) count++
        for (const id of b.keys()) if (!a.has(id)) count++
      }
    }
    return count
  }

  /** Each object's hash by id; the source's as the target must hold them (KeyApplier.sourceHash). */
  async #hashes(side: Side, resource: Resource, tenant: string): Promise<Map<string, string | undefined>> {
    const { apply } = this.#o
    const out = new Map<string, string | undefined>()
    for await (const page of this.#pages(side, resource, tenant, undefined)) {
      for (const item of page.items) out.set(item.id, side === this.#o.source ? await apply.sourceHash(resource, tenant, item.doc) : apply.hash(resource.type, item.doc))
    }
    return out
  }

  #tenants(): Promise<string[]> {
    return this.#o.adapters[this.#o.source].listTenants()
  }

  async *#pages(side: Side, resource: Resource, tenant: string, cursor: string | undefined) {
    let next = cursor
    do {
      const readAt = Date.now()
      const page = await this.#o.adapters[side].listPage(resource, tenant, next, this.#o.policy.sync.batchSize)
      yield { ...page, readAt }
      next = page.next
    } while (next !== undefined)
  }
}

/** What a scope's target has and its source does not, to delete once the pass has copied everything. */
interface Deletions {
  resource: Resource
  tenant: string
  items: Array<{ id: string, doc: undefined }>
  /** When the source listing that showed them absent began (the watermark rule). */
  listedFrom: number
  targetIndex: Map<string, unknown>
}
