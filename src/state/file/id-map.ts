// The id map of the embedded mode, in memory and saved with the state file.
import type { Side } from '../../policy/schema.ts'
import { planForget, planPairs, type IdMap, type IdMapChanges, type IdPair } from '../id-map.ts'
import { syncKey, type SyncKey } from '../sync-key.ts'
import type { SavedState } from './state-file.ts'

type Saved = Pick<SavedState, 'ids'>

export class FileIdMap implements IdMap {
  #maps: Record<Side, Map<SyncKey, string>>
  #save: () => Promise<void>

  constructor(saved: Saved, save: () => Promise<void>) {
    this.#maps = { old: new Map(Object.entries(saved.ids?.old ?? {})), new: new Map(Object.entries(saved.ids?.new ?? {})) }
    this.#save = save
  }

  snapshot(): Saved {
    return { ids: { old: Object.fromEntries(this.#maps.old), new: Object.fromEntries(this.#maps.new) } }
  }

  async otherId(wanted: Side, resourceType: string, tenant: string, id: string): Promise<string | undefined> {
    return this.#maps[wanted === 'old' ? 'new' : 'old'].get(syncKey(resourceType, tenant, id))
  }

  pair(pairs: IdPair[]): Promise<void> {
    return this.#apply(planPairs(pairs, this.#partner))
  }

  forget(side: Side, ids: Array<{ resourceType: string, tenant: string, id: string }>): Promise<void> {
    return this.#apply(planForget(side, ids, this.#partner))
  }

  #partner = (side: Side, key: SyncKey): string | undefined => this.#maps[side].get(key)

  /** Saves only when something changed: a pass over paired objects writes nothing. */
  async #apply(changes: IdMapChanges): Promise<void> {
    let changed = false
    for (const side of ['old', 'new'] as const) {
      for (const key of changes.remove[side]) this.#maps[side].delete(key)
      for (const [key, id] of changes.set[side]) this.#maps[side].set(key, id)
      changed ||= changes.remove[side].length + changes.set[side].length > 0
    }
    if (changed) await this.#save()
  }
}
