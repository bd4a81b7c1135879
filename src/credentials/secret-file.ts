// A credential kept in a file, re-read when the file changes. Kubernetes updates a mounted Secret
// by swapping a `..data` symlink to a new directory; stat() follows the links, so the swap shows
// as another file (inode, size, mtime), and the file is read again. Checked at most every
// `recheckMs`, so a busy sync does not stat the file for every request.
import { readFile, stat } from 'node:fs/promises'

/** How often a credential file is checked for a change, at most. */
export const FILE_RECHECK_MS = 1000

export interface SecretFileOptions {
  recheckMs?: number
  /** Milliseconds, for the recheck interval; default performance.now. */
  now?: () => number
}

export class SecretFile {
  readonly path: string
  #recheckMs: number
  #now: () => number
  #value: string | undefined
  /** dev, inode, size and mtime of the file `#value` was read from. */
  #identity: string | undefined
  #checkedAt = -Infinity

  constructor(path: string, o: SecretFileOptions = {}) {
    this.path = path
    this.#recheckMs = o.recheckMs ?? FILE_RECHECK_MS
    this.#now = o.now ?? (() => performance.now())
  }

  /**
   * The file's content without surrounding whitespace (the newline `echo token > file` leaves).
   * `fresh` checks the file now, whatever the recheck interval says. Rejects when the file
   * cannot be read (the error's `code` says why: ENOENT, EACCES...).
   */
  async read(fresh = false): Promise<string> {
    const now = this.#now()
    if (!fresh && this.#value !== undefined && now - this.#checkedAt < this.#recheckMs) return this.#value
    const s = await stat(this.path)
    const identity = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`
    // A swap between the stat and the read leaves an identity that is not the content's: the
    // next check sees another identity and reads again.
    if (identity !== this.#identity || this.#value === undefined) {
      this.#value = (await readFile(this.path, 'utf8')).trim()
      this.#identity = identity
    }
    this.#checkedAt = now
    return this.#value
  }
}
