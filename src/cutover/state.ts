// The write authority in force across the fleet, and the cutover that moves it. The policy file
// says which authority is *desired*; this state says which one is *effective*: every proxy
// replica sends writes where it says, so a file read at different moments by two replicas never
// splits writes between two stores.
import type { Side } from '../policy/schema.ts'

/**
 * `steady`: writes go to `authority`. `hold`: a cutover to `run.to` is under way; replicas hold
 * new writes and confirm once their writes in flight have finished and been announced. `switch`:
 * the stream is drained; replicas confirm they are ready to send writes to `run.to`. Only a
 * transition back to `steady` (a switch, or an abort) releases held writes.
 */
export type CutoverPhase = 'steady' | 'hold' | 'switch'

export interface CutoverRun {
  id: string
  from: Side
  to: Side
  /** Store clock (ms) when the hold began, and past which the run can no longer switch. */
  startedAt: number
  deadline: number
  /** What asked for it: the policy file, or `dualread cutover`. */
  trigger: 'file' | 'command'
}

export interface CutoverState {
  /** Rises by one with every switch. */
  epoch: number
  authority: Side
  phase: CutoverPhase
  /** Present during hold and switch. */
  run?: CutoverRun | undefined
  lastSwitch?: { id: string, from: Side, to: Side, at: number, holdMs: number } | undefined
  lastAbort?: { id: string, to: Side, at: number, reason: string } | undefined
}

/** `dualread cutover --to SIDE`: wins over the file until the file's authority is edited again. */
export interface CutoverRequest {
  to: Side
  /** The file's authority when the command was given. */
  fileAuthority: Side
  at: number
}

export type ConfirmPhase = 'hold' | 'switch'

/** The initial state of a migration: the policy's authority, no cutover ever run. */
export function initialState(authority: Side): CutoverState {
  return { epoch: 1, authority, phase: 'steady' }
}

/** Which authority the operator wants now: a command, while the file still says what it said then; else the file. */
export function desiredAuthority(fileAuthority: Side, request: CutoverRequest | undefined): Side {
  return request && request.fileAuthority === fileAuthority ? request.to : fileAuthority
}

/** A run's identity for compare-and-set: epoch, phase and run id. */
export function stateIdentity(state: CutoverState): string {
  return `${state.epoch}|${state.phase}|${state.run?.id ?? ''}`
}
