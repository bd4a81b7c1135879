// The writes proxies announce, in order, and how far the sync has read them.
import { z } from 'zod'

export const CHANGE_STREAM_LIMIT = 100_000

/** A write through the proxy: which object (or, for a create without an id, which collection) changed. */
export interface ChangeEvent {
  /** Stream position, assigned by the store; strictly increasing. */
  offset: string
  resourceType: string
  tenant: string
  /** Absent when the write addressed a collection (a POST that created an id the proxy did not see). */
  id?: string
  /** ms since the epoch, when the proxy saw the write succeed. */
  at: number
  /** The W3C traceparent of the write's span, when the proxy traced it: the sync's apply links to it. */
  traceparent?: string
}

/** A change as a proxy announces it: the store gives it its offset. */
export type Change = Omit<ChangeEvent, 'offset'>

export interface ChangeStream {
  /** Appends a change (the proxy, after a successful write); bounded to CHANGE_STREAM_LIMIT entries. */
  append(change: Change): Promise<void>
  /** Changes after `offset` ('0' for the beginning), oldest first, at most `count`. */
  read(offset: string, count: number): Promise<ChangeEvent[]>
  /** Changes the proxies saw succeed at or after `at` (ms), oldest first, at most `count`. */
  since(at: number, count: number): Promise<ChangeEvent[]>
  /** How far the sync has applied the stream. */
  getOffset(): Promise<string>
  setOffset(offset: string): Promise<void>
}

/** A change read back from a state file. */
export const changeEvent = z.strictObject({
  offset: z.string().regex(/^[1-9]\d*$/),
  resourceType: z.string(),
  tenant: z.string(),
  id: z.string().optional(),
  at: z.number(),
  traceparent: z.string().optional(),
}) satisfies z.ZodType<ChangeEvent>
