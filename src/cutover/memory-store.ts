// The cutover state of the embedded mode: proxy and sync share one process, so memory is shared.
import type { Side } from '../policy/schema.ts'
import { initialState, stateIdentity, type ConfirmPhase, type CutoverRequest, type CutoverState } from './state.ts'
import type { CutoverStore } from './store.ts'

export interface MemoryCutoverOptions {
  clock?: () => number
  /** The state to start from (a saved authority after a restart). */
  initial?: CutoverState | undefined
  /** Awaited before a switch becomes visible, so it can be made durable first. */
  onSwitch?: (state: CutoverState) => Promise<void>
}

export class MemoryCutoverStore implements CutoverStore {
  #state: CutoverState | undefined
  #request: CutoverRequest | undefined
  #seen = new Map<string, number>()
  #confirmed = new Map<string, Set<string>>()
  #clock: () => number
  #onSwitch: ((state: CutoverState) => Promise<void>) | undefined

  constructor(o: MemoryCutoverOptions = {}) {
    this.#clock = o.clock ?? Date.now
    this.#state = o.initial
    this.#onSwitch = o.onSwitch
  }

  async read(): Promise<CutoverState | undefined> {
    return this.#state
  }

  async initialize(authority: Side): Promise<CutoverState> {
    return (this.#state ??= initialState(authority))
  }

  async checkIn(replica: string): Promise<CutoverState | undefined> {
    this.#seen.set(replica, this.#clock())
    return this.#state
  }

  async leave(replica: string): Promise<void> {
    this.#seen.delete(replica)
  }

  async replicas(withinMs: number): Promise<string[]> {
    const since = this.#clock() - withinMs
    return [...this.#seen].filter(([, at]) => at >= since).map(([id]) => id)
  }

  async confirm(runId: string, phase: ConfirmPhase, replica: string): Promise<void> {
    const key = `${runId}:${phase}`
    let set = this.#confirmed.get(key)
    if (!set) this.#confirmed.set(key, set = new Set())
    set.add(replica)
  }

  async confirmed(runId: string, phase: ConfirmPhase): Promise<Set<string>> {
    return new Set(this.#confirmed.get(`${runId}:${phase}`))
  }

  async transition(expected: CutoverState, next: CutoverState, o: { beforeDeadline?: number } = {}): Promise<boolean> {
    if (!this.#state || stateIdentity(this.#state) !== stateIdentity(expected)) return false
    if (o.beforeDeadline !== undefined && this.#clock() >= o.beforeDeadline) return false
    if (next.epoch !== expected.epoch) await this.#onSwitch?.(next)
    if (expected.run && next.phase === 'steady') {
      this.#confirmed.delete(`${expected.run.id}:hold`)
      this.#confirmed.delete(`${expected.run.id}:switch`)
    }
    this.#state = next
    return true
  }

  async now(): Promise<number> {
    return this.#clock()
  }

  async request(request: CutoverRequest | undefined): Promise<void> {
    this.#request = request
  }

  async pendingRequest(): Promise<CutoverRequest | undefined> {
    return this.#request
  }
}
