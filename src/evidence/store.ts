// Where the fleet's evidence lives: 10 s buckets (gate windows; kept BUCKET_RETENTION_MS) and
// hourly buckets (kept `evidence.retentionDays`), each a set of counters every replica adds to.
import type { Fields } from './counts.ts'

export const HOUR_MS = 3_600_000
/** 10 s buckets are kept this long: the longest gate window allowed (6 h). */
export const BUCKET_RETENTION_MS = 6 * HOUR_MS

/** The starts of the buckets of `size` ms that begin in [from, to), oldest first. */
export function bucketStarts(from: number, to: number, size: number): number[] {
  const starts: number[] = []
  for (let at = Math.ceil(from / size) * size; at < to; at += size) starts.push(at)
  return starts
}

export interface FleetBucket { at: number, fields: Fields, replicas: string[] }

export interface EvidenceStore {
  readonly kind: 'redis' | 'memory'
  /** Adds `replica`'s counts of each 10 s bucket (`at` its start) to that bucket and to its hour. */
  add(replica: string, buckets: Array<{ at: number, fields: Fields }>, retentionDays: number): Promise<void>
  /** The 10 s buckets that start in [from, to), oldest first; empty ones left out. */
  window(from: number, to: number): Promise<FleetBucket[]>
  /** The hourly buckets that start in [from, to), oldest first; empty ones left out. */
  hours(from: number, to: number): Promise<Array<{ at: number, fields: Fields }>>
}
