// An in-memory ResourceAdapter: a store that needs no HTTP, for driving the sync loop's edge cases.
import type { Resource, Side } from '../../src/policy/schema.ts'
import type { Page, ResourceAdapter } from '../../src/sync/adapter.ts'

export class MemoryAdapter implements ResourceAdapter {
  readonly side: Side
  readonly objects = new Map<string, unknown>()
  tenants: string[] = []
  /** Deletes that the store acknowledges but ignores (a broken store). */
  ignoreDeletes = false

  constructor(side: Side) {
    this.side = side
  }

  static key(type: string, tenant: string, id: string): string {
    return `${type}/${tenant}/${id}`
  }

  async listTenants(): Promise<string[]> {
    return this.tenants
  }

  async listPage(resource: Resource, tenant: string, cursor: string | undefined, limit: number): Promise<Page> {
    const prefix = `${resource.type}/${tenant}/`
    const ids = [...this.objects.keys()].filter(k => k.startsWith(prefix)).map(k => k.slice(prefix.length)).sort()
    const start = cursor === undefined ? 0 : ids.indexOf(cursor) + 1
    const page = ids.slice(start, start + limit)
    return { items: page.map(id => ({ id, doc: this.objects.get(prefix + id) })), next: start + limit < ids.length ? page[page.length - 1] : undefined }
  }

  async get(resource: Resource, tenant: string, id: string): Promise<unknown> {
    return this.objects.get(MemoryAdapter.key(resource.type, tenant, id))
  }

  async put(resource: Resource, tenant: string, id: string, doc: unknown): Promise<void> {
    this.objects.set(MemoryAdapter.key(resource.type, tenant, id), doc)
  }

  async delete(resource: Resource, tenant: string, id: string): Promise<void> {
    if (!this.ignoreDeletes) this.objects.delete(MemoryAdapter.key(resource.type, tenant, id))
  }

  async close(): Promise<void> {}
}
