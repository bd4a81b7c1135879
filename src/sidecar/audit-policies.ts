// Every policy generation a process applies goes into the audit log: the first one, applied by
// start() before anything could listen, and those applied while the log was still being opened.
import type { LoadedPolicy, PolicySource } from '../policy/source.ts'
import type { AuditRecorder } from '../state/audit-recorder.ts'

/**
 * Follows `source` from now on (call it right after `source.start()`); the returned function
 * hands over the recorder once the audit log is open, and records what was applied until then.
 * @example
 * const recordPolicies = followPolicies(source)
 * recordPolicies(new AuditRecorder({ ... }))
 */
export function followPolicies(source: PolicySource): (recorder: AuditRecorder) => void {
  const waiting: LoadedPolicy[] = [source.current]
  let recorder: AuditRecorder | undefined
  source.on('applied', (loaded: LoadedPolicy) => {
    if (recorder) recordPolicy(recorder, source.file, loaded)
    else waiting.push(loaded)
  })
  return r => {
    recorder = r
    for (const loaded of waiting.splice(0)) recordPolicy(r, source.file, loaded)
  }
}

function recordPolicy(recorder: AuditRecorder, file: string, loaded: LoadedPolicy): void {
  const { generation, origin, compiled: { hash } } = loaded
  const reason = origin === 'persisted'
    ? `${file} is invalid; the last good copy (persisted) serves until it is fixed`
    : generation === 1 ? `${file}, read at start` : `${file} changed`
  recorder.record('policy-applied', `generation ${generation} (${hash})`, reason, { generation, hash, file, origin })
}
