// A bounded log in Redis: one list, newest first, trimmed on every push (the conflict and audit logs).
import type { Redis } from 'ioredis'
import type { BoundedLog } from '../bounded-log.ts'
import { inRedis } from './call.ts'

/** How errors name the list and its two operations: "audit log in redis: cannot read it: …". */
export interface ListWording { area: string, append: string, read: string }

/**
 * @example
 * const audit = new RedisCappedList<AuditEntry>(redis, `${prefix}audit`, 10_000, { area: 'audit log', append: 'append to it', read: 'read it' })
 */
export class RedisCappedList<T> implements BoundedLog<T> {
  readonly key: string
  #redis: Redis
  #limit: number
  #words: ListWording

  constructor(redis: Redis, key: string, limit: number, words: ListWording) {
    this.#redis = redis
    this.key = key
    this.#limit = limit
    this.#words = words
  }

  append(entry: T): Promise<void> {
    return inRedis(this.#words.area, this.#words.append, async () => {
      // Sent back to back on one connection: one round trip, applied in order.
      await Promise.all([
        this.#redis.lpush(this.key, JSON.stringify(entry)),
        this.#redis.ltrim(this.key, 0, this.#limit - 1),
      ])
    })
  }

  recent(limit: number): Promise<T[]> {
    return inRedis(this.#words.area, this.#words.read, async () =>
      (await this.#redis.lrange(this.key, 0, limit - 1)).map(raw => JSON.parse(raw) as T))
  }
}
