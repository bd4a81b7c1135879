// Records events of one process in the audit log without ever failing what it records: a reload,
// a rollback or a cutover step goes on when the log cannot be written (Redis away), and that is
// logged once per outage — a warning when it begins, a count while it lasts, a line when it ends.
import type { ConditionLog } from '../telemetry/condition-log.ts'
import type { AuditEntry, AuditEvent, AuditLog } from './audit-log.ts'

const CONDITION = 'audit-log'

export interface AuditRecorderOptions {
  audit: AuditLog
  role: AuditEntry['role']
  replica: string
  conditions: ConditionLog
  clock?: () => number
}

/**
 * @example
 * const recorder = new AuditRecorder({ audit: store.audit, role: 'proxy', replica, conditions })
 * recorder.record('rollback-set', 'rule acme', 'operator (cli)', { rule: 'acme' })
 */
export class AuditRecorder {
  #o: AuditRecorderOptions
  #clock: () => number
  #pending = new Set<Promise<void>>()

  constructor(o: AuditRecorderOptions) {
    this.#o = o
    this.#clock = o.clock ?? Date.now
  }

  /**
   * Appends an entry and returns at once: the caller never waits for the store (a cutover's hold
   * must not), and never sees it fail. Entries are sent in call order.
   */
  record(event: AuditEvent, subject: string, reason: string, detail: AuditEntry['detail'] = {}): void {
    const { audit, role, replica, conditions } = this.#o
    const entry: AuditEntry = { at: new Date(this.#clock()).toISOString(), event, role, replica, subject, reason, detail }
    const appending: Promise<void> = audit.append(entry).then(() => conditions.end(CONDITION), (err: Error) => {
      conditions.event(CONDITION, () => ({
        fields: { role },
        began: 'cannot record in the audit log (dualread history); what it records goes on, and the entry is lost',
        summary: n => `${n} more audit log entries could not be recorded`,
        ended: n => `audit log recording again; entries lost meanwhile: ${n}`,
      }), { err: { message: err.message }, event, subject })
    }).finally(() => this.#pending.delete(appending))
    this.#pending.add(appending)
  }

  /** Waits for appends under way (on stop, before the store closes). */
  async flush(): Promise<void> {
    await Promise.all(this.#pending)
  }
}
