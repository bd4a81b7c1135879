// The id map: which object of the new store is which of the old one, for resources whose stores
// each assign their own ids (`naturalKey`). The sync records a pair whenever it pairs two objects
// by natural key (or creates one and reads its new id); shadow reads of an item translate the id
// through it. Losing it loses nothing: the next scan pairs the objects by natural key again.
import type { Side } from '../policy/schema.ts'
import { syncKey, type SyncKey } from './sync-key.ts'

export interface IdPair {
  resourceType: string
  tenant: string
  old: string
  new: string
}

export interface IdMap {
  /**
   * The id `wanted`'s store gave the object that the other store calls `id`; undefined when
   * the two are not paired (yet).
   */
  otherId(wanted: Side, resourceType: string, tenant: string, id: string): Promise<string | undefined>
  /** Records pairs; an id paired before with another object loses that pairing. Unchanged pairs write nothing. */
  pair(pairs: IdPair[]): Promise<void>
  /** Forgets the pairings of these ids of `side`'s store (objects deleted there). */
  forget(side: Side, ids: Array<{ resourceType: string, tenant: string, id: string }>): Promise<void>
}

/** Per store, its ids' partners: `old` maps syncKey(type, tenant, old id) → new id, and `new` the other way. */
export interface IdMapChanges {
  set: Record<Side, Array<[SyncKey, string]>>
  remove: Record<Side, SyncKey[]>
}

/**
 * What recording `pairs` changes, given the current partner of each of their ids (`partner(side,
 * key)`): both directions set, and the stale reverse entries of a re-paired id removed. Shared by
 * the state stores so both keep the map the same way.
 * @example planPairs([{ resourceType: 'silence', tenant: '', old: 'a', new: 'b' }], () => undefined).set.old // [['silence\0\0a', 'b']]
 */
export function planPairs(pairs: IdPair[], partner: (side: Side, key: SyncKey) => string | undefined): IdMapChanges {
  const changes: IdMapChanges = { set: { old: [], new: [] }, remove: { old: [], new: [] } }
  for (const p of pairs) {
    const oldKey = syncKey(p.resourceType, p.tenant, p.old)
    const newKey = syncKey(p.resourceType, p.tenant, p.new)
    const [newOfOld, oldOfNew] = [partner('old', oldKey), partner('new', newKey)]
    if (newOfOld === p.new && oldOfNew === p.old) continue
    if (newOfOld !== undefined && newOfOld !== p.new) changes.remove.new.push(syncKey(p.resourceType, p.tenant, newOfOld))
    if (oldOfNew !== undefined && oldOfNew !== p.old) changes.remove.old.push(syncKey(p.resourceType, p.tenant, oldOfNew))
    changes.set.old.push([oldKey, p.new])
    changes.set.new.push([newKey, p.old])
  }
  return changes
}

/** The keys of both directions to remove when `ids` of `side` are forgotten, given their partners. */
export function planForget(side: Side, ids: Array<{ resourceType: string, tenant: string, id: string }>, partner: (side: Side, key: SyncKey) => string | undefined): IdMapChanges {
  const other: Side = side === 'old' ? 'new' : 'old'
  const changes: IdMapChanges = { set: { old: [], new: [] }, remove: { old: [], new: [] } }
  for (const { resourceType, tenant, id } of ids) {
    const key = syncKey(resourceType, tenant, id)
    const found = partner(side, key)
    if (found === undefined) continue
    // planPairs keeps both directions in step, so the partner points back.
    changes.remove[side].push(key)
    changes.remove[other].push(syncKey(resourceType, tenant, found))
  }
  return changes
}
