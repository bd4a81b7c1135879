// `dualread cutover --to SIDE` as the admin endpoints serve it: a request stored for the sync
// leader, and a report of where the cutover stands, the same from any proxy or sync process.
import type { Side } from '../policy/schema.ts'
import { desiredAuthority } from './state.ts'
import type { CutoverStore } from './store.ts'

export interface CutoverReport {
  effective: Side | null
  desired: Side
  epoch: number | null
  phase: string
  run: unknown
  lastSwitch: unknown
  lastAbort: unknown
}

/** Asks the sync leader to move the write authority to `to` (until the policy file's authority is edited). */
export async function requestCutover(store: CutoverStore, to: Side, fileAuthority: Side): Promise<CutoverReport> {
  await store.request({ to, fileAuthority, at: Date.now() })
  return cutoverReport(store, fileAuthority)
}

export async function cutoverReport(store: CutoverStore, fileAuthority: Side): Promise<CutoverReport> {
  const [state, request] = await Promise.all([store.read(), store.pendingRequest()])
  return {
    effective: state?.authority ?? null,
    desired: desiredAuthority(fileAuthority, request),
    epoch: state?.epoch ?? null,
    phase: state?.phase ?? 'unknown',
    run: state?.run ?? null,
    lastSwitch: state?.lastSwitch ?? null,
    lastAbort: state?.lastAbort ?? null,
  }
}
