// What the sync remembers of a key it made equal: the hash of the content it wrote and the
// source's own revision at that moment. State stores keep it as one opaque string per key.

export interface AppliedRecord {
  /** Canonical hash of the content written (the resource's version pointer left out). */
  hash: string
  /** The source's revision of what was written, when the resource has a numeric `version`. */
  sourceVersion?: number | undefined
}

/** Hashes are hex, so `@` never occurs in one; state saved before revisions were kept is a bare hash. */
const SEPARATOR = '@'

/** @example encodeApplied({ hash: 'ab12', sourceVersion: 7 }) // → 'ab12@7' */
export function encodeApplied(record: AppliedRecord): string {
  return record.sourceVersion === undefined ? record.hash : `${record.hash}${SEPARATOR}${record.sourceVersion}`
}

export function decodeApplied(text: string): AppliedRecord {
  const at = text.indexOf(SEPARATOR)
  if (at < 0) return { hash: text }
  const version = Number(text.slice(at + 1))
  return { hash: text.slice(0, at), sourceVersion: Number.isFinite(version) ? version : undefined }
}
