// Checkpoints of the embedded mode, in memory and saved with the state file.
import type { CheckpointStore } from '../checkpoints.ts'
import type { SyncKey } from '../sync-key.ts'
import type { SavedState } from './state-file.ts'

type Saved = Pick<SavedState, 'cursors' | 'applied' | 'tombstones'>

export class FileCheckpoints implements CheckpointStore {
  #cursors: Map<string, string>
  #applied: Map<SyncKey, string>
  #tombstones: Map<SyncKey, number>
  #save: () => Promise<void>

  constructor(saved: Saved, save: () => Promise<void>) {
    this.#cursors = new Map(Object.entries(saved.cursors))
    this.#applied = new Map(Object.entries(saved.applied))
    this.#tombstones = new Map(Object.entries(saved.tombstones))
    this.#save = save
  }

  snapshot(): Saved {
    return {
      cursors: Object.fromEntries(this.#cursors),
      applied: Object.fromEntries(this.#applied),
      tombstones: Object.fromEntries(this.#tombstones),
    }
  }

  async getCursor(scope: string): Promise<string | undefined> {
    return this.#cursors.get(scope)
  }

  setCursor(scope: string, cursor: string | undefined): Promise<void> {
    setOrDelete(this.#cursors, [[scope, cursor]])
    return this.#save()
  }

  async getApplied(keys: SyncKey[]): Promise<Map<SyncKey, string>> {
    return pick(this.#applied, keys)
  }

  setApplied(entries: Array<[SyncKey, string | undefined]>): Promise<void> {
    setOrDelete(this.#applied, entries)
    return this.#save()
  }

  async getTombstones(keys: SyncKey[]): Promise<Map<SyncKey, number>> {
    return pick(this.#tombstones, keys)
  }

  setTombstones(entries: Array<[SyncKey, number | undefined]>): Promise<void> {
    setOrDelete(this.#tombstones, entries)
    return this.#save()
  }
}

function setOrDelete<V>(map: Map<string, V>, entries: Array<[string, V | undefined]>): void {
  for (const [key, value] of entries) {
    if (value === undefined) map.delete(key)
    else map.set(key, value)
  }
}

function pick<V>(map: Map<string, V>, keys: string[]): Map<string, V> {
  const found = new Map<string, V>()
  for (const key of keys) {
    const value = map.get(key)
    if (value !== undefined) found.set(key, value)
  }
  return found
}
