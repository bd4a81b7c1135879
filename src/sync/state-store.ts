// Where the sync loop keeps what must survive a kill -9: cursors, the hash it last wrote per
// key, tombstones, the change-stream offset, the conflict log and the single-writer lease.
// One interface per concern (CheckpointStore, ChangeStream, ConflictLog, LeaseStore, SyncSignals,
// and the cutover and audit stores hung off it), composed as StateStore; two implementations:
// Redis (shared by replicas) and a local file (the embedded default). A proxy sees ProxyState only.
import type { Side } from '../policy/schema.ts'
import type { CutoverStore } from '../cutover/store.ts'
import type { AuditLog } from '../state/audit-log.ts'

/** `${resourceType}\u0000${tenant}\u0000${id}`: one object in one store. */
export type SyncKey = string

export function syncKey(resourceType: string, tenant: string, id: string): SyncKey {
  return `${resourceType}\u0000${tenant}\u0000${id}`
}

export function parseSyncKey(key: SyncKey): { resourceType: string, tenant: string, id: string } {
  const [resourceType = '', tenant = '', id = ''] = key.split('\u0000')
  return { resourceType, tenant, id }
}

/** A write through the proxy: which object (or, for a create without an id, which collection) changed. */
export interface ChangeEvent {
  /** Stream position, assigned by the store; strictly increasing. */
  offset: string
  resourceType: string
  tenant: string
  /** Absent when the write addressed a collection (a POST that created an id the proxy did not see). */
  id?: string
  /** ms since the epoch, when the proxy saw the write succeed. */
  at: number
}

export interface ConflictEntry {
  key: SyncKey
  /** Hash of the authority's object, or "absent". */
  sourceHash: string
  /** Hash found in the target, which the sync did not write. */
  targetHash: string
  /** What the sync had last written there, if anything. */
  appliedHash?: string
  winner: Side
  decision: 'upsert' | 'delete'
  at: string
}

export interface Lease {
  owner: string
  /** Fencing token: rises every time the lease changes hands. */
  token: number
  expiresAt: number
}

export const CONFLICT_LOG_LIMIT = 1000
export const CHANGE_STREAM_LIMIT = 100_000

/** Smaller bounds than the defaults, for tests and small deployments. */
export interface StateStoreBounds {
  /** Default CHANGE_STREAM_LIMIT. */
  changeStreamLimit?: number
  /** Default CONFLICT_LOG_LIMIT. */
  conflictLogLimit?: number
  /** Default AUDIT_LOG_LIMIT in Redis, FILE_AUDIT_LOG_LIMIT in a state file. */
  auditLogLimit?: number
}

/** Where each resource type and tenant's backfill stands, what the sync wrote per key, and tombstones. */
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

/** The writes proxies announce, in order, and how far the sync has read them. */
export interface ChangeStream {
  /** Appends a change (the proxy, after a successful write); bounded to CHANGE_STREAM_LIMIT entries. */
  appendChange(change: Omit<ChangeEvent, 'offset'>): Promise<void>
  /** Changes after `offset` ('0' for the beginning), oldest first, at most `count`. */
  readChanges(offset: string, count: number): Promise<ChangeEvent[]>
  /** Changes the proxies saw succeed at or after `at` (ms), oldest first, at most `count`. */
  changesSince(at: number, count: number): Promise<ChangeEvent[]>
  getOffset(): Promise<string>
  setOffset(offset: string): Promise<void>
}

/** The bounded log of keys whose target the sync found changed by someone else. */
export interface ConflictLog {
  /** Appends to the bounded conflict log (newest CONFLICT_LOG_LIMIT kept). */
  appendConflict(entry: ConflictEntry): Promise<void>
  /** Newest first. */
  conflicts(limit: number): Promise<ConflictEntry[]>
}

/** One writer per migration: a lease with a fencing token. */
export interface LeaseStore {
  /**
   * Takes the lease, or renews it when `owner` already holds it. Resolves undefined while another
   * owner holds an unexpired lease. A new holder gets a higher token than any before it.
   */
  acquireLease(owner: string, ttlMs: number): Promise<Lease | undefined>
  /** True while `lease` is still the current one (same owner and token, not expired). */
  holdsLease(lease: Lease): Promise<boolean>
  releaseLease(lease: Lease): Promise<void>
}

/** What the sync tells the proxies: writes applied (ending read-your-writes windows) and its status. */
export interface SyncSignals {
  /** Tells proxies that the sync has applied the writes of (resourceType, tenant) made up to `upTo` (ms). */
  publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void>
  /**
   * Calls `listener` on every publishApplied, from any process sharing the store; resolves to an
   * unsubscribe. Does not fail while the store is unreachable: it resolves at once and listens from
   * when the store is back (events published meanwhile are missed), and again after every outage.
   */
  onApplied(listener: (resourceType: string, tenant: string, upTo: number) => void): Promise<() => Promise<void>>
  /**
   * The sync process's latest status (a JSON document), for proxies to show in their /status and
   * /ui. It expires after `ttlMs`, so a sync that stopped publishing shows as absent, not stale.
   */
  publishStatus(status: string, ttlMs: number): Promise<void>
  /** The last status published and not yet expired; undefined when there is none. */
  readStatus(): Promise<string | undefined>
}

/** One migration's shared state, every concern of it, backed by Redis or by the embedded file store. */
export interface StateStore extends CheckpointStore, ChangeStream, ConflictLog, LeaseStore, SyncSignals {
  readonly kind: 'redis' | 'file'
  /** The fleet-wide write authority and its cutover (memory for a file store: one process). */
  readonly cutover: CutoverStore
  /** The migration's record (`dualread history`), bounded; kept with the rest of this state. */
  readonly audit: AuditLog
  close(): Promise<void>
}

/**
 * What a proxy replica uses of the shared state, and nothing more: it announces writes, hears
 * the sync's acknowledgements, shows the sync's status, follows the write cutover and records
 * to the audit log. The sync's checkpoints, lease and conflict log are not its business.
 */
export type ProxyState = Pick<StateStore, 'kind' | 'appendChange' | 'onApplied' | 'readStatus' | 'cutover' | 'audit' | 'close'>
