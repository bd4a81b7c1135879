// Where the cutover state lives: Redis for a fleet, memory for the embedded mode (one process).
import type { Side } from '../policy/schema.ts'
import type { ConfirmPhase, CutoverRequest, CutoverState } from './state.ts'

export interface CutoverStore {
  /** The state, or undefined before anything wrote one. */
  read(): Promise<CutoverState | undefined>
  /** Writes the initial state unless one exists; resolves to the state in force. */
  initialize(authority: Side): Promise<CutoverState>
  /** A proxy replica says it is alive and reads the state, in one round trip. */
  checkIn(replica: string): Promise<CutoverState | undefined>
  /** A replica that stops leaves at once instead of blocking cutovers until it times out. */
  leave(replica: string): Promise<void>
  /** Replicas that checked in within the last `withinMs`. */
  replicas(withinMs: number): Promise<string[]>
  confirm(runId: string, phase: ConfirmPhase, replica: string): Promise<void>
  confirmed(runId: string, phase: ConfirmPhase): Promise<Set<string>>
  /**
   * Writes `next` only while the state is still `expected` (same epoch, phase and run) and, with
   * `beforeDeadline`, only while the store's clock is before it. False when it did not write.
   */
  transition(expected: CutoverState, next: CutoverState, o?: { beforeDeadline?: number }): Promise<boolean>
  /** The store's clock (ms): deadlines are set and checked on this one clock. */
  now(): Promise<number>
  request(request: CutoverRequest | undefined): Promise<void>
  pendingRequest(): Promise<CutoverRequest | undefined>
}
