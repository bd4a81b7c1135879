// `absentWhen`: objects a store still lists but that no longer count (an expired silence stays in
// Alertmanager's list for days). Both the comparison and the sync treat them as not there.
import { canonicalJson } from './canonical.ts'
import { parsePointer, valueAt } from './pointer.ts'

/** True when an object is to be treated as absent. */
export type AbsentTest = (doc: unknown) => boolean

/**
 * @example absentTest({ '/status/state': ['expired'] })({ status: { state: 'expired' } }) // true
 */
export function absentTest(absentWhen: Record<string, unknown[]>): AbsentTest {
  const tests = Object.entries(absentWhen).map(([pointer, values]) => ({ at: parsePointer(pointer), values: new Set(values.map(v => canonicalJson(v))) }))
  if (tests.length === 0) return () => false
  return doc => tests.some(({ at, values }) => {
    const value = valueAt(doc, at)
    return value !== undefined && values.has(canonicalJson(value))
  })
}
