// The embedded mode's state file: one JSON document, saved whole after every change by
// write-temp + fsync + rename, so a kill -9 at any moment leaves the previous complete file or
// the next one, never a torn one.
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { side } from '../../policy/schema.ts'
import { auditEntry } from '../audit-log.ts'
import { changeEvent } from '../change-stream.ts'
import { conflictEntry } from '../conflict-log.ts'

export const STATE_FILE = 'state.json'

/** The file's format; `format` changes when the shape does. */
export const savedState = z.strictObject({
  format: z.literal(1),
  cursors: z.record(z.string(), z.string()),
  applied: z.record(z.string(), z.string()),
  tombstones: z.record(z.string(), z.number()),
  /** The id map (src/state/id-map.ts) per store; absent in files written before it existed. */
  ids: z.strictObject({ old: z.record(z.string(), z.string()), new: z.record(z.string(), z.string()) }).optional(),
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
export type SavedState = z.infer<typeof savedState>

const EMPTY: SavedState = {
  format: 1, cursors: {}, applied: {}, tombstones: {}, changes: [], lastChangeOffset: 0, offset: '0', conflicts: [], leaseToken: 0,
}

interface Waiter { resolve: () => void, reject: (err: Error) => void }

/**
 * Saves the document that `snapshot` makes. Every save() resolves once a write that includes the
 * caller's change is on disk. Calls made in one synchronous run (a Promise.all) are saved in one
 * write; calls made while a write is in flight share the next one.
 */
export class StateFile {
  readonly path: string
  #snapshot: () => SavedState
  #waiting: Waiter[] = []
  #writing: Promise<void> | undefined
  #closed = false

  /** Reads `dir/state.json` (creating `dir`); a missing file is an empty state, a bad one an error. */
  static async read(dir: string): Promise<{ path: string, saved: SavedState }> {
    await mkdir(dir, { recursive: true })
    const path = join(dir, STATE_FILE)
    return { path, saved: await readState(path) }
  }

  constructor(path: string, snapshot: () => SavedState) {
    this.path = path
    this.#snapshot = snapshot
  }

  save = (): Promise<void> => {
    // A change after close is not written: the process is stopping, and its directory may be
    // going away (a test's, or a pod's emptyDir) while a late write would create a temp file in it.
    if (this.#closed) return Promise.reject(new Error(`the sync state in ${this.path} is closed; the change was not saved`))
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.#waiting.push({ resolve, reject })
    this.#writing ??= this.#drain()
    return promise
  }

  /** Resolves once the last write has finished; later changes are refused. */
  async close(): Promise<void> {
    this.#closed = true
    await this.#writing
  }

  async #drain(): Promise<void> {
    // Begins after the caller's synchronous run, so calls made together (a Promise.all) land
    // in one write: on disk, either all of them or none.
    await undefined
    while (this.#waiting.length > 0) {
      const batch = this.#waiting
      this.#waiting = []
      try {
        await writeAtomically(this.path, JSON.stringify(this.#snapshot()))
        for (const waiter of batch) waiter.resolve()
      } catch (err) {
        const error = new Error(`cannot save sync state to ${this.path}: ${(err as Error).message}`, { cause: err })
        for (const waiter of batch) waiter.reject(error)
      }
    }
    this.#writing = undefined
  }
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
