// The keys whose target the sync found changed by someone else, and what it decided.
import { z } from 'zod'
import { side } from '../policy/schema.ts'
import type { BoundedLog } from './bounded-log.ts'

export const CONFLICT_LOG_LIMIT = 1000

export const conflictEntry = z.strictObject({
  key: z.string(),
  /** Hash of the authority's object, or "absent". */
  sourceHash: z.string(),
  /** Hash found in the target, which the sync did not write. */
  targetHash: z.string(),
  /** What the sync had last written there, if anything. */
  appliedHash: z.string().optional(),
  winner: side,
  decision: z.enum(['upsert', 'delete']),
  at: z.string(),
})
export type ConflictEntry = z.infer<typeof conflictEntry>

/** Newest CONFLICT_LOG_LIMIT kept. */
export type ConflictLog = BoundedLog<ConflictEntry>
