// Where each resource type and tenant's backfill stands, what the sync wrote per key, and
// tombstones: what lets a sync killed at any moment resume without redoing or missing work.
import type { SyncKey } from './sync-key.ts'

export interface CheckpointStore {
  /** Backfill position of one resource type and tenant: a list cursor, or undefined when not started. */
  getCursor(scope: string): Promise<string | undefined>
  setCursor(scope: string, cursor: string | undefined): Promise<void>
  /** What the sync last wrote to the target (an encoded AppliedRecord), for many keys in one round trip. */
  getApplied(keys: SyncKey[]): Promise<Map<SyncKey, string>>
  /** Records or forgets (undefined) what the sync wrote, many keys at once. */
  setApplied(entries: Array<[SyncKey, string | undefined]>): Promise<void>
  /** Deletion times (ms) of deleted keys, many at once. */
  getTombstones(keys: SyncKey[]): Promise<Map<SyncKey, number>>
  setTombstones(entries: Array<[SyncKey, number | undefined]>): Promise<void>
}
