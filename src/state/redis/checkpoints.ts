// Checkpoints in Redis: the hashes `sync:cursors`, `sync:applied` and `sync:tombstones`.
import type { Redis } from 'ioredis'
import type { CheckpointStore } from '../checkpoints.ts'
import type { SyncKey } from '../sync-key.ts'
import { inRedis, SYNC_STATE, type SyncKeys } from './call.ts'

export class RedisCheckpoints implements CheckpointStore {
  #redis: Redis
  #keys: SyncKeys

  constructor(redis: Redis, keys: SyncKeys) {
    this.#redis = redis
    this.#keys = keys
  }

  getCursor(scope: string): Promise<string | undefined> {
    return inRedis(SYNC_STATE, 'read a cursor', async () => (await this.#redis.hget(this.#keys.cursors, scope)) ?? undefined)
  }

  setCursor(scope: string, cursor: string | undefined): Promise<void> {
    return inRedis(SYNC_STATE, 'write a cursor', () => this.#setFields(this.#keys.cursors, [[scope, cursor]]))
  }

  getApplied(keys: SyncKey[]): Promise<Map<SyncKey, string>> {
    return inRedis(SYNC_STATE, 'read applied hashes', () => this.#getFields(this.#keys.applied, keys, String))
  }

  setApplied(entries: Array<[SyncKey, string | undefined]>): Promise<void> {
    return inRedis(SYNC_STATE, 'write applied hashes', () => this.#setFields(this.#keys.applied, entries))
  }

  getTombstones(keys: SyncKey[]): Promise<Map<SyncKey, number>> {
    return inRedis(SYNC_STATE, 'read tombstones', () => this.#getFields(this.#keys.tombstones, keys, Number))
  }

  setTombstones(entries: Array<[SyncKey, number | undefined]>): Promise<void> {
    return inRedis(SYNC_STATE, 'write tombstones', () => this.#setFields(this.#keys.tombstones, entries))
  }

  async #getFields<T>(key: string, fields: SyncKey[], parse: (raw: string) => T): Promise<Map<SyncKey, T>> {
    const found = new Map<SyncKey, T>()
    if (fields.length === 0) return found
    const values = await this.#redis.hmget(key, ...fields)
    fields.forEach((field, i) => {
      const value = values[i]
      if (value != null) found.set(field, parse(value))
    })
    return found
  }

  /** Sets and deletes in one round trip; for a field given twice, the last entry wins. */
  async #setFields(key: string, entries: Array<[string, string | number | undefined]>): Promise<void> {
    const last = new Map(entries)
    const set: Array<string | number> = []
    const remove: string[] = []
    for (const [field, value] of last) {
      if (value === undefined) remove.push(field)
      else set.push(field, value)
    }
    const writes: Array<Promise<unknown>> = []
    if (set.length > 0) writes.push(this.#redis.hset(key, ...set))
    if (remove.length > 0) writes.push(this.#redis.hdel(key, ...remove))
    await Promise.all(writes)
  }
}
