// What the sync does with one key, given what it knows now. Pure: the same facts always give the
// same decision, which is what makes replays harmless and conflicts deterministic.

export type SyncOp = 'upsert' | 'delete' | 'unchanged' | 'skip'

export interface KeyFacts {
  /** Canonical hash of the source object; undefined when the source does not have it. */
  sourceHash: string | undefined
  /** Canonical hash of the target object; undefined when the target does not have it. */
  targetHash: string | undefined
  /** The source's own revision of the object, when the resource has a `version` pointer. */
  sourceVersion?: number | undefined
  /**
   * The source revision the sync last applied for this key. Only the source's revisions are
   * ever compared with each other: a target store keeps revisions of its own.
   */
  appliedVersion?: number | undefined
  /** The hash the sync last wrote to the target for this key. */
  appliedHash?: string | undefined
  /** When the sync last saw this key deleted (ms). */
  tombstoneAt?: number | undefined
  /** When the proxy last saw a write to this key (ms), if the sync has heard of one. */
  changedAt?: number | undefined
  /**
   * When the source object was read, for objects that come from a backfill or scan page (ms).
   * Undefined for a key read on its own just now.
   */
  readAt?: number | undefined
}

export interface SyncDecision {
  /** `reread`: a page held an older revision than one already applied; read the key on its own. */
  op: SyncOp | 'reread'
  /** The target had been changed by someone other than the sync; the authority won. */
  conflict: boolean
  reason: string
}

/**
 * Decides one key, in this order: a page read before a later change or deletion of the key
 * never overwrites it (the watermark rule); a page holding an older source revision than the
 * one the sync already applied is read again by key (it is stale, or the object was deleted
 * and created again, and only a read of the key now can tell); equal hashes need nothing; a
 * target the sync did not write loses to the authority (a conflict); otherwise the target is
 * made equal to the source. A key read on its own is the source as it is now, so its revision
 * never blocks it.
 * @example decide({ sourceHash: 'a', targetHash: undefined }) // → { op: 'upsert', conflict: false, ... }
 */
export function decide(f: KeyFacts): SyncDecision {
  if (f.readAt !== undefined && ((f.changedAt ?? -Infinity) > f.readAt || (f.tombstoneAt ?? -Infinity) > f.readAt)) {
    return { op: 'skip', conflict: false, reason: 'changed after the page was read; the change itself will be applied' }
  }
  if (f.readAt !== undefined && f.sourceVersion !== undefined && f.appliedVersion !== undefined && f.sourceVersion < f.appliedVersion) {
    return { op: 'reread', conflict: false, reason: `the page holds version ${f.sourceVersion}, older than the ${f.appliedVersion} already applied` }
  }
  if (f.sourceHash === f.targetHash) return { op: 'unchanged', conflict: false, reason: 'already equal' }
  const conflict = f.targetHash !== undefined && f.targetHash !== f.appliedHash
  if (f.sourceHash === undefined) {
    return { op: 'delete', conflict, reason: conflict ? 'deleted at the source; the target had its own changes, the authority wins' : 'deleted at the source' }
  }
  return { op: 'upsert', conflict, reason: conflict ? 'the target had its own changes; the authority wins' : 'the source changed' }
}
