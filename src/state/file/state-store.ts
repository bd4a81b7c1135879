// The state of the embedded single-process default: held in memory, saved whole to one JSON
// file (state-file.ts) after every change.
import { MemoryCutoverStore } from '../../cutover/memory-store.ts'
import { initialState } from '../../cutover/state.ts'
import { FILE_AUDIT_LOG_LIMIT, MemoryAuditLog } from '../audit-log.ts'
import { MemoryLog } from '../bounded-log.ts'
import { CHANGE_STREAM_LIMIT } from '../change-stream.ts'
import { CONFLICT_LOG_LIMIT, type ConflictEntry } from '../conflict-log.ts'
import type { StateStore, StateStoreBounds } from '../state-store.ts'
import { FileChangeStream } from './change-stream.ts'
import { FileCheckpoints } from './checkpoints.ts'
import { FileIdMap } from './id-map.ts'
import { LocalLease } from './lease.ts'
import { LocalSignals } from './signals.ts'
import { StateFile, type SavedState } from './state-file.ts'

export { STATE_FILE } from './state-file.ts'

/**
 * The StateStore in `DIR/state.json`, for one process. Every mutating call resolves once the
 * state including it is on disk.
 *
 * @example
 * const store = await FileStateStore.open('.dualread/state')
 */
export class FileStateStore implements StateStore {
  readonly kind = 'file'
  readonly checkpoints: FileCheckpoints
  readonly ids: FileIdMap
  readonly changes: FileChangeStream
  readonly conflicts: MemoryLog<ConflictEntry>
  readonly lease: LocalLease
  readonly signals = new LocalSignals()
  /** In memory (the embedded mode's proxy and sync share this process); the authority after a switch is saved. */
  readonly cutover: MemoryCutoverStore
  /** Saved with the rest of the state, newest FILE_AUDIT_LOG_LIMIT entries (a smaller bound: the file is rewritten whole on every change). */
  readonly audit: MemoryAuditLog
  #file: StateFile
  #authority: SavedState['authority']

  /** Reads `dir/state.json` (creating `dir`); a missing file is an empty state, a bad one an error. */
  static async open(dir: string, bounds: StateStoreBounds = {}): Promise<FileStateStore> {
    const { path, saved } = await StateFile.read(dir)
    return new FileStateStore(path, saved, bounds)
  }

  private constructor(path: string, saved: SavedState, bounds: StateStoreBounds) {
    this.#file = new StateFile(path, () => this.#snapshot())
    const save = this.#file.save
    this.checkpoints = new FileCheckpoints(saved, save)
    this.ids = new FileIdMap(saved, save)
    this.changes = new FileChangeStream(saved, bounds.changeStreamLimit ?? CHANGE_STREAM_LIMIT, save, path)
    this.conflicts = new MemoryLog({ limit: bounds.conflictLogLimit ?? CONFLICT_LOG_LIMIT, initial: saved.conflicts, onAppend: save })
    this.lease = new LocalLease(saved.leaseToken, save)
    this.#authority = saved.authority
    this.cutover = new MemoryCutoverStore({
      initial: saved.authority && { ...initialState(saved.authority.authority), epoch: saved.authority.epoch },
      onSwitch: state => {
        this.#authority = { epoch: state.epoch, authority: state.authority }
        return save()
      },
    })
    this.audit = new MemoryAuditLog({ limit: bounds.auditLogLimit ?? FILE_AUDIT_LOG_LIMIT, initial: saved.audit, onAppend: save })
  }

  /** Waits for the last write; the state stays readable, and changes are refused from now on. */
  async close(): Promise<void> {
    await this.#file.close()
    this.signals.close()
  }

  #snapshot(): SavedState {
    return {
      format: 1,
      ...this.checkpoints.snapshot(),
      ...this.ids.snapshot(),
      ...this.changes.snapshot(),
      conflicts: [...this.conflicts.entries],
      leaseToken: this.lease.lastToken,
      ...(this.#authority ? { authority: this.#authority } : {}),
      audit: [...this.audit.entries],
    }
  }
}
