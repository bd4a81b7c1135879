// Sync state of the embedded single-process default: held in memory, saved whole to one JSON
// file after every change. Saved by write-temp + fsync + rename, so a kill -9 at any moment
// leaves the previous complete file or the next one, never a torn one.
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { side } from '../policy/schema.ts'
import { MemoryCutoverStore } from '../cutover/memory-store.ts'
import { initialState } from '../cutover/state.ts'
import { auditEntry, FILE_AUDIT_LOG_LIMIT, MemoryAuditLog } from '../state/audit-log.ts'
import {
  CHANGE_STREAM_LIMIT, CONFLICT_LOG_LIMIT,
  type ChangeEvent, type ConflictEntry, type Lease, type StateStore, type StateStoreBounds, type SyncKey,
} from './state-store.ts'

export const STATE_FILE = 'state.json'

const changeEvent = z.strictObject({
  offset: z.string().regex(/^[1-9]\d*$/),
  resourceType: z.string(),
  tenant: z.string(),
  id: z.string().optional(),
  at: z.number(),
}) satisfies z.ZodType<ChangeEvent>

const conflictEntry = z.strictObject({
  key: z.string(),
  sourceHash: z.string(),
  targetHash: z.string(),
  appliedHash: z.string().optional(),
  winner: side,
  decision: z.enum(['upsert', 'delete']),
  at: z.string(),
}) satisfies z.ZodType<ConflictEntry>

/** The file's format; `format` changes when the shape does. */
const savedState = z.strictObject({
  format: z.literal(1),
  cursors: z.record(z.string(), z.string()),
  applied: z.record(z.string(), z.string()),
  tombstones: z.record(z.string(), z.number()),
  /** Oldest first; offsets are consecutive integers ending at `lastChangeOffset`. */
  changes: z.array(changeEvent),
  lastChangeOffset: z.number().int().nonnegative(),
  offset: z.string(),
  /** Newest first. */
  conflicts: z.array(conflictEntry),
  /** The last fencing token handed out, so tokens keep rising across restarts. */
  leaseToken: z.number().int().nonnegative(),
  /** The write authority in force after the last cutover, so a restart never forgets a switch. */
  authority: z.strictObject({ epoch: z.number().int().positive(), authority: side }).optional(),
  /** The audit log (`dualread history`), newest first; absent in files written before it existed. */
  audit: z.array(auditEntry).optional(),
})
type SavedState = z.infer<typeof savedState>

type AppliedListener = (resourceType: string, tenant: string, upTo: number) => void

interface Waiter { resolve: () => void, reject: (err: Error) => void }

/**
 * The StateStore in `DIR/state.json`, for one process. Every mutating call resolves once the
 * state including it is on disk. Calls made in one synchronous run (a Promise.all) are saved in
 * one write; calls made while a write is in flight share the next one.
 * The lease lives in memory (this process is the only writer); applied events go to listeners
 * in this process, which the proxy and the sync share in embedded mode.
 *
 * @example
 * const store = await FileStateStore.open('.dualread/state')
 */
export class FileStateStore implements StateStore {
  readonly kind = 'file'
  /** In memory (the embedded mode's proxy and sync share this process); the authority after a switch is saved. */
  readonly cutover: MemoryCutoverStore
  /** Saved with the rest of the state, newest FILE_AUDIT_LOG_LIMIT entries (a smaller bound: the file is rewritten whole on every change). */
  readonly audit: MemoryAuditLog
  readonly file: string
  #cursors: Map<string, string>
  #applied: Map<SyncKey, string>
  #tombstones: Map<SyncKey, number>
  #changes: ChangeEvent[]
  #lastChangeOffset: number
  #offset: string
  #conflicts: ConflictEntry[]
  #leaseToken: number
  #authority: SavedState['authority']
  #lease: Lease | undefined
  #listeners = new Set<AppliedListener>()
  #changeStreamLimit: number
  #conflictLogLimit: number
  #waiting: Waiter[] = []
  #writing: Promise<void> | undefined
  /** Kept in memory only: a status is for the proxy in this process, and means nothing after a restart. */
  #status: { text: string, expiresAt: number } | undefined

  /** Reads `dir/state.json` (creating `dir`); a missing file is an empty state, a bad one an error. */
  static async open(dir: string, bounds: StateStoreBounds = {}): Promise<FileStateStore> {
    await mkdir(dir, { recursive: true })
    const file = join(dir, STATE_FILE)
    return new FileStateStore(file, await readState(file), bounds)
  }

  private constructor(file: string, saved: SavedState, bounds: StateStoreBounds) {
    this.file = file
    this.#cursors = new Map(Object.entries(saved.cursors))
    this.#applied = new Map(Object.entries(saved.applied))
    this.#tombstones = new Map(Object.entries(saved.tombstones))
    this.#changes = saved.changes
    this.#lastChangeOffset = saved.lastChangeOffset
    this.#offset = saved.offset
    this.#conflicts = saved.conflicts
    this.#leaseToken = saved.leaseToken
    this.#authority = saved.authority
    this.cutover = new MemoryCutoverStore({
      initial: saved.authority && { ...initialState(saved.authority.authority), epoch: saved.authority.epoch },
      onSwitch: state => {
        this.#authority = { epoch: state.epoch, authority: state.authority }
        return this.#save()
      },
    })
    this.audit = new MemoryAuditLog({ limit: bounds.auditLogLimit ?? FILE_AUDIT_LOG_LIMIT, initial: saved.audit, onAppend: () => this.#save() })
    this.#changeStreamLimit = bounds.changeStreamLimit ?? CHANGE_STREAM_LIMIT
    this.#conflictLogLimit = bounds.conflictLogLimit ?? CONFLICT_LOG_LIMIT
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

  appendChange(change: Omit<ChangeEvent, 'offset'>): Promise<void> {
    this.#changes.push({ ...change, offset: String(++this.#lastChangeOffset) })
    const excess = this.#changes.length - this.#changeStreamLimit
    if (excess > 0) this.#changes.splice(0, excess)
    return this.#save()
  }

  async readChanges(offset: string, count: number): Promise<ChangeEvent[]> {
    if (!/^\d+$/.test(offset)) throw new Error(`change offset "${offset}" is not one of ${this.file} (a file store counts changes 1, 2, 3...; '0' reads from the beginning)`)
    // Offsets are consecutive, so the position of the one after `offset` is arithmetic.
    const first = this.#lastChangeOffset - this.#changes.length + 1
    const start = Math.max(0, Number(offset) - first + 1)
    return this.#changes.slice(start, start + count)
  }

  async changesSince(at: number, count: number): Promise<ChangeEvent[]> {
    return this.#changes.filter(c => c.at >= at).slice(0, count)
  }

  async getOffset(): Promise<string> {
    return this.#offset
  }

  setOffset(offset: string): Promise<void> {
    this.#offset = offset
    return this.#save()
  }

  appendConflict(entry: ConflictEntry): Promise<void> {
    this.#conflicts.unshift(entry)
    this.#conflicts.length = Math.min(this.#conflicts.length, this.#conflictLogLimit)
    return this.#save()
  }

  async conflicts(limit: number): Promise<ConflictEntry[]> {
    return this.#conflicts.slice(0, limit)
  }

  async acquireLease(owner: string, ttlMs: number): Promise<Lease | undefined> {
    const now = Date.now()
    const held = this.#lease !== undefined && this.#lease.expiresAt > now ? this.#lease : undefined
    if (held && held.owner !== owner) return undefined
    if (held) {
      held.expiresAt = now + ttlMs
      return { ...held }
    }
    // Taken before the write, so a second caller meanwhile sees it held.
    const lease = { owner, token: ++this.#leaseToken, expiresAt: now + ttlMs }
    this.#lease = lease
    try {
      await this.#save()
    } catch (err) {
      // Its token is not durable, so nobody may act on it.
      if (this.#lease === lease) this.#lease = undefined
      throw err
    }
    return { ...lease }
  }

  async holdsLease(lease: Lease): Promise<boolean> {
    return this.#isCurrent(lease) && this.#lease!.expiresAt > Date.now()
  }

  async releaseLease(lease: Lease): Promise<void> {
    if (this.#isCurrent(lease)) this.#lease = undefined
  }

  async publishStatus(status: string, ttlMs: number): Promise<void> {
    this.#status = { text: status, expiresAt: Date.now() + ttlMs }
  }

  async readStatus(): Promise<string | undefined> {
    return this.#status && this.#status.expiresAt > Date.now() ? this.#status.text : undefined
  }

  async publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void> {
    for (const listener of this.#listeners) listener(resourceType, tenant, upTo)
  }

  async onApplied(listener: AppliedListener): Promise<() => Promise<void>> {
    // Wrapped, so the same function subscribed twice is two subscriptions.
    const subscription: AppliedListener = (...args) => listener(...args)
    this.#listeners.add(subscription)
    return async () => {
      this.#listeners.delete(subscription)
    }
  }

  /** Waits for the last write; the state stays readable. */
  async close(): Promise<void> {
    await this.#writing
    this.#listeners.clear()
  }

  #isCurrent(lease: Lease): boolean {
    return this.#lease?.owner === lease.owner && this.#lease.token === lease.token
  }

  /** Resolves once a write that includes the caller's change has finished. */
  #save(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.#waiting.push({ resolve, reject })
    this.#writing ??= this.#drain()
    return promise
  }

  async #drain(): Promise<void> {
    // Begins after the caller's synchronous run, so calls made together (a Promise.all) land
    // in one write: on disk, either all of them or none.
    await undefined
    while (this.#waiting.length > 0) {
      const batch = this.#waiting
      this.#waiting = []
      try {
        await writeAtomically(this.file, JSON.stringify(this.#snapshot()))
        for (const waiter of batch) waiter.resolve()
      } catch (err) {
        const error = new Error(`cannot save sync state to ${this.file}: ${(err as Error).message}`, { cause: err })
        for (const waiter of batch) waiter.reject(error)
      }
    }
    this.#writing = undefined
  }

  #snapshot(): SavedState {
    return {
      format: 1,
      cursors: Object.fromEntries(this.#cursors),
      applied: Object.fromEntries(this.#applied),
      tombstones: Object.fromEntries(this.#tombstones),
      changes: this.#changes,
      lastChangeOffset: this.#lastChangeOffset,
      offset: this.#offset,
      conflicts: this.#conflicts,
      leaseToken: this.#leaseToken,
      ...(this.#authority ? { authority: this.#authority } : {}),
      audit: [...this.audit.entries],
    }
  }
}

const EMPTY: SavedState = {
  format: 1, cursors: {}, applied: {}, tombstones: {}, changes: [], lastChangeOffset: 0, offset: '0', conflicts: [], leaseToken: 0,
}

async function readState(file: string): Promise<SavedState> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY)
    throw new Error(`cannot read sync state file ${file}: ${(err as Error).message}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new Error(`sync state file ${file} is not valid JSON (${(err as Error).message}); move it aside to restart the sync from scratch`, { cause: err })
  }
  const parsed = savedState.safeParse(json)
  if (!parsed.success) {
    throw new Error(`sync state file ${file} does not hold dualread sync state:\n${z.prettifyError(parsed.error)}\nmove it aside to restart the sync from scratch`)
  }
  return parsed.data
}

/** Replaces `file` with `text` so that a crash leaves one or the other whole, and the rename is durable. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, file)
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
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
