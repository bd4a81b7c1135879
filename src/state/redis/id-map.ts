// The id map in Redis: the hashes `sync:ids:old` (old id → new id) and `sync:ids:new` (the other
// way), fields syncKey(type, tenant, id), next to the sync's other checkpoints.
import type { Redis } from 'ioredis'
import type { Side } from '../../policy/schema.ts'
import { planForget, planPairs, type IdMap, type IdMapChanges, type IdPair } from '../id-map.ts'
import { syncKey, type SyncKey } from '../sync-key.ts'
import { inRedis, SYNC_STATE, type SyncKeys } from './call.ts'

export class RedisIdMap implements IdMap {
  #redis: Redis
  #keys: Record<Side, string>

  constructor(redis: Redis, keys: SyncKeys) {
    this.#redis = redis
    this.#keys = { old: keys.idsOld, new: keys.idsNew }
  }

  otherId(wanted: Side, resourceType: string, tenant: string, id: string): Promise<string | undefined> {
    const from: Side = wanted === 'old' ? 'new' : 'old'
    return inRedis(SYNC_STATE, 'read the id map', async () => (await this.#redis.hget(this.#keys[from], syncKey(resourceType, tenant, id))) ?? undefined)
  }

  pair(pairs: IdPair[]): Promise<void> {
    if (pairs.length === 0) return Promise.resolve()
    return inRedis(SYNC_STATE, 'write the id map', async () => {
      const partners = await this.#partners({
        old: pairs.map(p => syncKey(p.resourceType, p.tenant, p.old)),
        new: pairs.map(p => syncKey(p.resourceType, p.tenant, p.new)),
      })
      await this.#apply(planPairs(pairs, (side, key) => partners[side].get(key)))
    })
  }

  forget(side: Side, ids: Array<{ resourceType: string, tenant: string, id: string }>): Promise<void> {
    if (ids.length === 0) return Promise.resolve()
    return inRedis(SYNC_STATE, 'write the id map', async () => {
      const keys = ids.map(i => syncKey(i.resourceType, i.tenant, i.id))
      const partners = await this.#partners(side === 'old' ? { old: keys, new: [] } : { old: [], new: keys })
      await this.#apply(planForget(side, ids, (s, key) => partners[s].get(key)))
    })
  }

  async #partners(keys: Record<Side, SyncKey[]>): Promise<Record<Side, Map<SyncKey, string>>> {
    const read = async (side: Side) => {
      const found = new Map<SyncKey, string>()
      if (keys[side].length === 0) return found
      const values = await this.#redis.hmget(this.#keys[side], ...keys[side])
      keys[side].forEach((key, i) => { if (values[i] != null) found.set(key, values[i]!) })
      return found
    }
    const [old, neu] = await Promise.all([read('old'), read('new')])
    return { old, new: neu }
  }

  async #apply(changes: IdMapChanges): Promise<void> {
    const multi = this.#redis.multi()
    for (const side of ['old', 'new'] as const) {
      if (changes.remove[side].length > 0) multi.hdel(this.#keys[side], ...changes.remove[side])
      if (changes.set[side].length > 0) multi.hset(this.#keys[side], ...changes.set[side].flat())
    }
    await multi.exec()
  }
}
