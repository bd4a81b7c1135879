// The migration's record: an append-only, bounded log of what changed it and why — policy
// generations, rollback overrides, drift gate trips, cutover steps, switches, aborts and refusals.
// Kept with the migration's state (Redis, or the state file), so every admin port shows the same.
import { z } from 'zod'
import { MemoryLog, type BoundedLog, type MemoryLogOptions } from './bounded-log.ts'

/** Newest entries kept in Redis. */
export const AUDIT_LOG_LIMIT = 10_000
/** Newest entries kept in a state file, which is rewritten whole on every change of the sync state. */
export const FILE_AUDIT_LOG_LIMIT = 1000

export const AUDIT_EVENTS = [
  'policy-applied', 'rollback-set', 'rollback-cleared', 'gate-tripped',
  'cutover-step', 'cutover-switched', 'cutover-aborted', 'cutover-refused', 'verification',
] as const

/** One entry; the schema also checks entries read back from a state file. */
export const auditEntry = z.strictObject({
  /** ISO time. */
  at: z.string(),
  event: z.enum(AUDIT_EVENTS),
  /** Which kind of process recorded it, and which one (host:pid:random). */
  role: z.enum(['proxy', 'sync']),
  replica: z.string(),
  /** What it is about, as a person reads it: "generation 3 (1a2b3c4d)", "rule acme", "run 5e6f7a8b: hold". */
  subject: z.string(),
  reason: z.string(),
  /** The same facts as fields, for `dualread history --json`. */
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
})
export type AuditEntry = z.infer<typeof auditEntry>
export type AuditEvent = AuditEntry['event']

/** Newest AUDIT_LOG_LIMIT kept in Redis, FILE_AUDIT_LOG_LIMIT in a state file. */
export type AuditLog = BoundedLog<AuditEntry>

/**
 * The log in this process: for a proxy without shared state (its own /history), and inside the
 * file state store, which saves `entries` with the rest of the state.
 * @example
 * const audit = new MemoryAuditLog({ limit: 100 })
 */
export class MemoryAuditLog extends MemoryLog<AuditEntry> {
  constructor(o: Partial<MemoryLogOptions<AuditEntry>> = {}) {
    super({ ...o, limit: o.limit ?? AUDIT_LOG_LIMIT })
  }
}
