// Every call to Redis for shared state fails with one kind of error: what could not be done, why.

/** Runs `run`; a failure becomes `${area} in redis: cannot ${what}: ${reason}`. */
export async function inRedis<T>(area: string, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    throw new Error(`${area} in redis: cannot ${what}: ${(err as Error).message}`, { cause: err })
  }
}

/** The sync's keys under a migration's prefix, whose hash tag keeps them in one Cluster slot. */
export function syncKeys(prefix: string) {
  return {
    cursors: `${prefix}sync:cursors`,
    applied: `${prefix}sync:applied`,
    tombstones: `${prefix}sync:tombstones`,
    idsOld: `${prefix}sync:ids:old`,
    idsNew: `${prefix}sync:ids:new`,
    changes: `${prefix}sync:changes`,
    offset: `${prefix}sync:offset`,
    conflicts: `${prefix}sync:conflicts`,
    lease: `${prefix}sync:lease`,
    leaseToken: `${prefix}sync:lease-token`,
    appliedEvents: `${prefix}sync:applied-events`,
    writtenEvents: `${prefix}proxy:written-events`,
    status: `${prefix}sync:status`,
    audit: `${prefix}audit`,
  }
}
export type SyncKeys = ReturnType<typeof syncKeys>

export const SYNC_STATE = 'sync state'
