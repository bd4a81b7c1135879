// What the processes of a migration tell each other: a proxy, the writes it forwarded (so every
// replica pins reads of the slice: read-your-writes across the fleet); the sync, the writes it
// applied (ending those windows) and its status.

export type AppliedListener = (resourceType: string, tenant: string, upTo: number) => void
export type WrittenListener = (resourceType: string, tenant: string, at: number) => void

export interface SyncSignals {
  /** Tells every replica that a write of (resourceType, tenant) went to the authority at `at` (ms). */
  publishWritten(resourceType: string, tenant: string, at: number): Promise<void>
  /** Calls `listener` on every publishWritten, from any process sharing the store (like onApplied). */
  onWritten(listener: WrittenListener): Promise<() => Promise<void>>
  /** Tells proxies that the sync has applied the writes of (resourceType, tenant) made up to `upTo` (ms). */
  publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void>
  /**
   * Calls `listener` on every publishApplied, from any process sharing the store; resolves to an
   * unsubscribe. Does not fail while the store is unreachable: it resolves at once and listens from
   * when the store is back (events published meanwhile are missed), and again after every outage.
   */
  onApplied(listener: AppliedListener): Promise<() => Promise<void>>
  /**
   * The sync process's latest status (a JSON document), for proxies to show in their /status and
   * /ui. It expires after `ttlMs`, so a sync that stopped publishing shows as absent, not stale.
   */
  publishStatus(status: string, ttlMs: number): Promise<void>
  /** The last status published and not yet expired; undefined when there is none. */
  readStatus(): Promise<string | undefined>
}
