// Keys a reload cannot apply: the addresses a process bound at start. A reload that changes them
// is applied for everything else, and says a restart is needed to move the listeners.
import type { Policy } from '../policy/schema.ts'

/** Policy keys that take effect only at start. */
export const BOUND_AT_START = ['listen', 'admin'] as const
export type BoundKey = typeof BOUND_AT_START[number]

export interface RestartNeeded {
  reason: string
  keys: BoundKey[]
  /** What is bound now, and what the policy in force asks for. */
  bound: Partial<Record<BoundKey, string>>
  wanted: Partial<Record<BoundKey, string>>
}

/**
 * Compares the policy the listeners were bound from with the one now in force. A key set on
 * the command line (`--listen`, `--admin`) wins over the policy, so changing it in the file changes nothing.
 * @example
 * restartNeeded(started, reloaded, { admin: '127.0.0.1:0' }) // { keys: ['listen'], ... } or undefined
 */
export function restartNeeded(started: Policy, current: Policy, fromCommandLine: Partial<Record<BoundKey, string>>): RestartNeeded | undefined {
  const keys = BOUND_AT_START.filter(k => fromCommandLine[k] === undefined && current[k] !== started[k])
  if (keys.length === 0) return undefined
  return {
    reason: `${keys.join(' and ')} changed in the policy; addresses are bound at start, so restart the process to move ${keys.length === 1 ? 'it' : 'them'} (it keeps listening where it is; everything else in the policy is applied)`,
    keys,
    bound: Object.fromEntries(keys.map(k => [k, started[k]])),
    wanted: Object.fromEntries(keys.map(k => [k, current[k]])),
  }
}
