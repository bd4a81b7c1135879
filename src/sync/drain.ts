// The change drain: applies the writes proxies announced, in stream order, batch by batch, and
// remembers when each key last changed (the watermark rule) and how long the oldest change waits.
import type { Resource } from '../policy/schema.ts'
import type { ChangeEvent, ChangeStream } from '../state/change-stream.ts'
import type { SyncSignals } from '../state/signals.ts'
import { syncKey, type SyncKey } from '../state/sync-key.ts'
import type { KeyApplier } from './apply.ts'
import type { Scanner } from './scan.ts'
import type { PassSummary } from './summary.ts'

/** Latest change time per key, for the watermark rule; older entries are forgotten first. */
export const RECENT_CHANGES_MAX = 100_000

export interface ChangeDrainOptions {
  changes: ChangeStream
  signals: SyncSignals
  resources: Resource[]
  batchSize: number
  apply: KeyApplier
  scanner: Scanner
  /** Throws LeaseLostError once this process may no longer write. */
  fence: () => Promise<void>
  /** Waits, waking early when the sync stops. */
  pause: (ms: number) => Promise<void>
  recentChangesMax?: number | undefined
}

/** The changes of one resource type and tenant in a batch. */
export interface ChangeScope {
  resource: Resource
  tenant: string
  /** The ids written. */
  ids: Set<string>
  /** A whole collection was written (an id-less POST), or its objects are paired by natural key: the scope is scanned. */
  whole: boolean
  /** The latest write time (ms). */
  upTo: number
}

/**
 * Groups changes by resource type and tenant, in the order of `resources` (parents first, so a
 * batch writes a referenced object before the one naming it); types no longer in the policy are
 * left out.
 */
export function scopesOf(changes: ChangeEvent[], resources: ReadonlyMap<string, Resource>): ChangeScope[] {
  const scopes = new Map<string, ChangeScope>()
  for (const change of changes) {
    const resource = resources.get(change.resourceType)
    if (!resource) continue // a type removed from the policy since the write
    const id = `${change.resourceType}\u0000${change.tenant}`
    let scope = scopes.get(id)
    if (!scope) scopes.set(id, scope = { resource, tenant: change.tenant, ids: new Set(), whole: false, upTo: 0 })
    scope.upTo = Math.max(scope.upTo, change.at)
    // Objects paired by natural key: a change names one store's id only, so the scan pairs them.
    if (change.id === undefined || resource.naturalKey !== undefined) scope.whole = true
    else scope.ids.add(change.id)
  }
  const rank = new Map([...resources.keys()].map((type, i) => [type, i]))
  return [...scopes.values()].sort((a, b) => rank.get(a.resource.type)! - rank.get(b.resource.type)!)
}

export class ChangeDrain {
  #o: ChangeDrainOptions
  #resources: Map<string, Resource>
  #recentChanges = new Map<SyncKey, number>()
  #oldestPending = new Map<string, number>()

  constructor(o: ChangeDrainOptions) {
    this.#o = o
    this.#resources = new Map(o.resources.map(r => [r.type, r]))
  }

  /** When the proxy last saw a write to `key` (ms), while remembered. */
  changedAt = (key: SyncKey): number | undefined => this.#recentChanges.get(key)

  /** Per resource type, how long the oldest change not yet applied has waited (0 when none waits). */
  lag(): Array<{ resourceType: string, seconds: number }> {
    const now = Date.now()
    return [...this.#resources.keys()].map(type => ({ resourceType: type, seconds: (now - (this.#oldestPending.get(type) ?? now)) / 1000 }))
  }

  /** Applies the next batch of changes from the stream; resolves to how many it read. */
  async drain(summary: PassSummary): Promise<number> {
    const { changes: stream, signals } = this.#o
    const changes = await stream.read(await stream.getOffset(), this.#o.batchSize)
    if (changes.length === 0) {
      this.#oldestPending.clear()
      return 0
    }
    this.#o.apply.noteWrites(changes)
    for (const change of changes) {
      if (!this.#resources.has(change.resourceType)) continue
      if (!this.#oldestPending.has(change.resourceType)) this.#oldestPending.set(change.resourceType, change.at)
      if (change.id !== undefined) this.#noteChange(syncKey(change.resourceType, change.tenant, change.id), change.at)
    }
    for (const scope of scopesOf(changes, this.#resources)) {
      if (scope.whole) await this.#o.scanner.scanScope(scope.resource, scope.tenant, summary)
      else await this.#o.apply.applyKeys(scope.resource, scope.tenant, [...scope.ids], summary)
      await signals.publishApplied(scope.resource.type, scope.tenant, scope.upTo)
    }
    await this.#o.fence()
    await stream.setOffset(changes[changes.length - 1]!.offset)
    this.#oldestPending.clear()
    return changes.length
  }

  /** How long the oldest change not applied yet has waited (ms); 0 when the stream is drained. */
  async pendingAgeMs(): Promise<number> {
    const { changes } = this.#o
    const [first] = await changes.read(await changes.getOffset(), 1)
    return first ? Math.max(0, Date.now() - first.at) : 0
  }

  /**
   * Makes the keys of `changes` equal on both sides and reads them again until they are (a store
   * that lags shows the write late), or until `deadline` (ms). Resolves to how many still differ.
   */
  async settle(changes: ChangeEvent[], deadline: number, summary: PassSummary): Promise<number> {
    const { apply, scanner } = this.#o
    let differing = 0
    for (const { resource, tenant, ids, whole } of scopesOf(changes, this.#resources)) {
      if (whole) await scanner.scanScope(resource, tenant, summary)
      let left = [...ids]
      while (left.length > 0) {
        await apply.applyKeys(resource, tenant, left, summary)
        left = await apply.differing(resource, tenant, left)
        if (left.length === 0 || Date.now() >= deadline) break
        await this.#o.pause(20)
      }
      differing += left.length
    }
    return differing
  }

  #noteChange(key: SyncKey, at: number): void {
    this.#recentChanges.delete(key)
    this.#recentChanges.set(key, at)
    if (this.#recentChanges.size > (this.#o.recentChangesMax ?? RECENT_CHANGES_MAX)) this.#recentChanges.delete(this.#recentChanges.keys().next().value!)
  }
}
