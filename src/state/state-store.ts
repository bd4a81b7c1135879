// One migration's shared state: a store per concern, backed together by Redis (shared by
// replicas, redis/) or by one local file (the embedded default, file/). A proxy sees ProxyState.
import type { CutoverStore } from '../cutover/store.ts'
import type { AuditLog } from './audit-log.ts'
import type { ChangeStream } from './change-stream.ts'
import type { CheckpointStore } from './checkpoints.ts'
import type { ConflictLog } from './conflict-log.ts'
import type { IdMap } from './id-map.ts'
import type { LeaseStore } from './lease.ts'
import type { SyncSignals } from './signals.ts'

/** Smaller bounds than the defaults, for tests and small deployments. */
export interface StateStoreBounds {
  /** Default CHANGE_STREAM_LIMIT. */
  changeStreamLimit?: number
  /** Default CONFLICT_LOG_LIMIT. */
  conflictLogLimit?: number
  /** Default AUDIT_LOG_LIMIT in Redis, FILE_AUDIT_LOG_LIMIT in a state file. */
  auditLogLimit?: number
}

export interface StateStore {
  readonly kind: 'redis' | 'file'
  readonly checkpoints: CheckpointStore
  /** Which object of one store is which of the other, where each assigns its own ids (naturalKey). */
  readonly ids: IdMap
  readonly changes: ChangeStream
  readonly conflicts: ConflictLog
  readonly lease: LeaseStore
  readonly signals: SyncSignals
  /** The fleet-wide write authority and its cutover (memory for a file store: one process). */
  readonly cutover: CutoverStore
  /** The migration's record (`dualread history`), bounded. */
  readonly audit: AuditLog
  close(): Promise<void>
}

/**
 * What a proxy replica uses of the shared state, and nothing more: it announces writes, hears
 * the sync's acknowledgements, shows the sync's status, follows the write cutover and records
 * to the audit log. The sync's checkpoints, lease and conflict log are not its business.
 */
export interface ProxyState {
  readonly kind: StateStore['kind']
  readonly changes: Pick<ChangeStream, 'append'>
  readonly signals: Pick<SyncSignals, 'onApplied' | 'readStatus' | 'publishWritten' | 'onWritten'>
  /** Shadow reads of an item ask the other store for its own id of the object. */
  readonly ids: Pick<IdMap, 'otherId'>
  readonly cutover: CutoverStore
  readonly audit: AuditLog
  close(): Promise<void>
}
