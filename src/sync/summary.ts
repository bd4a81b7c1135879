// What a pass (or the sync since it started) did, key by key.

export interface PassSummary {
  scanned: number
  upserted: number
  deleted: number
  unchanged: number
  skipped: number
  conflicts: number
  errors: number
}

export const emptySummary = (): PassSummary => ({ scanned: 0, upserted: 0, deleted: 0, unchanged: 0, skipped: 0, conflicts: 0, errors: 0 })
