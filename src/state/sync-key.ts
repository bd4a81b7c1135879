// One object in one store, as the sync's state names it.

/** `${resourceType}\u0000${tenant}\u0000${id}`. */
export type SyncKey = string

export function syncKey(resourceType: string, tenant: string, id: string): SyncKey {
  return `${resourceType}\u0000${tenant}\u0000${id}`
}

export function parseSyncKey(key: SyncKey): { resourceType: string, tenant: string, id: string } {
  const [resourceType = '', tenant = '', id = ''] = key.split('\u0000')
  return { resourceType, tenant, id }
}
