// A migration's state in Redis, shared by every replica: all keys under the migration's prefix
// (see syncKeys). The connection has no offline queue: while Redis is away every call rejects at
// once with an error naming the operation, and the sync loop pauses instead of piling up work.
// Only onApplied waits it out: a subscription starts whenever Redis is back.
import type { Redis } from 'ioredis'
import type { Logger } from '../../telemetry/logger.ts'
import { RedisCutoverStore } from '../../cutover/redis-store.ts'
import { AUDIT_LOG_LIMIT, type AuditEntry } from '../audit-log.ts'
import { CHANGE_STREAM_LIMIT } from '../change-stream.ts'
import { CONFLICT_LOG_LIMIT, type ConflictEntry } from '../conflict-log.ts'
import type { StateStore, StateStoreBounds } from '../state-store.ts'
import { syncKeys } from './call.ts'
import { RedisCappedList } from './capped-list.ts'
import { RedisChangeStream } from './change-stream.ts'
import { RedisCheckpoints } from './checkpoints.ts'
import { RedisIdMap } from './id-map.ts'
import { RedisLease } from './lease.ts'
import { RedisSignals } from './signals.ts'

/**
 * Owns `redis` (made with `connectRedis`) and closes it on close().
 *
 * @example
 * const redis = connectRedis(process.env.REDIS_URL, log)
 * const store = new RedisStateStore(redis, keyPrefix('alerting'), log)
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'redis'
  readonly checkpoints: RedisCheckpoints
  readonly ids: RedisIdMap
  readonly changes: RedisChangeStream
  readonly conflicts: RedisCappedList<ConflictEntry>
  readonly lease: RedisLease
  readonly signals: RedisSignals
  readonly cutover: RedisCutoverStore
  readonly audit: RedisCappedList<AuditEntry>
  #redis: Redis

  constructor(redis: Redis, prefix: string, log: Logger, bounds: StateStoreBounds = {}) {
    this.#redis = redis
    const keys = syncKeys(prefix)
    this.checkpoints = new RedisCheckpoints(redis, keys)
    this.ids = new RedisIdMap(redis, keys)
    this.changes = new RedisChangeStream(redis, keys, bounds.changeStreamLimit ?? CHANGE_STREAM_LIMIT)
    this.conflicts = new RedisCappedList(redis, keys.conflicts, bounds.conflictLogLimit ?? CONFLICT_LOG_LIMIT, { area: 'sync state', append: 'append a conflict', read: 'read conflicts' })
    this.lease = new RedisLease(redis, keys)
    this.signals = new RedisSignals(redis, keys, log)
    this.cutover = new RedisCutoverStore(redis, prefix)
    this.audit = redisAuditLog(redis, prefix, bounds.auditLogLimit)
  }

  async close(): Promise<void> {
    this.signals.close()
    // Not QUIT: it rejects when the connection is already dying. Callers stop using the store first.
    this.#redis.disconnect()
  }
}

/** The audit log of the migration under `prefix` (the list `audit`). */
export function redisAuditLog(redis: Redis, prefix: string, limit = AUDIT_LOG_LIMIT): RedisCappedList<AuditEntry> {
  return new RedisCappedList(redis, syncKeys(prefix).audit, limit, { area: 'audit log', append: 'append to it', read: 'read it' })
}
