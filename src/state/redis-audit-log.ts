// The audit log of a migration in Redis: one capped list (`audit`) under the migration's prefix,
// newest first, shared by every proxy and sync process of the migration.
import type { Redis } from 'ioredis'
import { AUDIT_LOG_LIMIT, type AuditEntry, type AuditLog } from './audit-log.ts'

/**
 * @example
 * const audit = new RedisAuditLog(connectRedis(url, log), keyPrefix('alerting'))
 */
export class RedisAuditLog implements AuditLog {
  #redis: Redis
  readonly key: string
  #limit: number

  constructor(redis: Redis, prefix: string, limit = AUDIT_LOG_LIMIT) {
    this.#redis = redis
    this.key = `${prefix}audit`
    this.#limit = limit
  }

  async append(entry: AuditEntry): Promise<void> {
    try {
      // Sent back to back on one connection: one round trip, applied in order.
      await Promise.all([
        this.#redis.lpush(this.key, JSON.stringify(entry)),
        this.#redis.ltrim(this.key, 0, this.#limit - 1),
      ])
    } catch (err) {
      throw unavailable('append to', err)
    }
  }

  async recent(limit: number): Promise<AuditEntry[]> {
    try {
      return (await this.#redis.lrange(this.key, 0, limit - 1)).map(raw => JSON.parse(raw) as AuditEntry)
    } catch (err) {
      throw unavailable('read', err)
    }
  }
}

function unavailable(what: string, err: unknown): Error {
  return new Error(`audit log in redis: cannot ${what} it: ${(err as Error).message}`, { cause: err })
}
