// The change stream of the embedded mode: offsets count 1, 2, 3... and are saved with the state file.
import type { Change, ChangeEvent, ChangeStream } from '../change-stream.ts'
import type { SavedState } from './state-file.ts'

type Saved = Pick<SavedState, 'changes' | 'lastChangeOffset' | 'offset'>

export class FileChangeStream implements ChangeStream {
  #changes: ChangeEvent[]
  #lastChangeOffset: number
  #offset: string
  #limit: number
  #save: () => Promise<void>
  #path: string

  constructor(saved: Saved, limit: number, save: () => Promise<void>, path: string) {
    this.#changes = saved.changes
    this.#lastChangeOffset = saved.lastChangeOffset
    this.#offset = saved.offset
    this.#limit = limit
    this.#save = save
    this.#path = path
  }

  snapshot(): Saved {
    return { changes: this.#changes, lastChangeOffset: this.#lastChangeOffset, offset: this.#offset }
  }

  append(change: Change): Promise<void> {
    this.#changes.push({ ...change, offset: String(++this.#lastChangeOffset) })
    const excess = this.#changes.length - this.#limit
    if (excess > 0) this.#changes.splice(0, excess)
    return this.#save()
  }

  async read(offset: string, count: number): Promise<ChangeEvent[]> {
    if (!/^\d+$/.test(offset)) throw new Error(`change offset "${offset}" is not one of ${this.#path} (a file store counts changes 1, 2, 3...; '0' reads from the beginning)`)
    // Offsets are consecutive, so the position of the one after `offset` is arithmetic.
    const first = this.#lastChangeOffset - this.#changes.length + 1
    const start = Math.max(0, Number(offset) - first + 1)
    return this.#changes.slice(start, start + count)
  }

  async since(at: number, count: number): Promise<ChangeEvent[]> {
    return this.#changes.filter(c => c.at >= at).slice(0, count)
  }

  async getOffset(): Promise<string> {
    return this.#offset
  }

  setOffset(offset: string): Promise<void> {
    this.#offset = offset
    return this.#save()
  }
}
