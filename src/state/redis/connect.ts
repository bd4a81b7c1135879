// Redis connections for shared state. Commands fail fast while Redis is away (no offline queue),
// so callers keep their last known state instead of piling up requests in memory.
import { Redis } from 'ioredis'
import type { Logger } from '../../telemetry/logger.ts'

const COMMAND_TIMEOUT_MS = 1000
const MAX_RECONNECT_DELAY_MS = 2000

export function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: COMMAND_TIMEOUT_MS * 2,
    retryStrategy: times => Math.min(times * 200, MAX_RECONNECT_DELAY_MS),
    lazyConnect: false,
  })
  let down = false
  redis.on('error', err => {
    if (!down) log.warn({ err: { message: err.message } }, 'redis connection error; retrying')
    down = true
  })
  redis.on('ready', () => {
    down = false
    log.info('redis connected')
  })
  return redis
}

/**
 * Resolves true once the connection is ready, false after `timeoutMs`. Without an offline
 * queue, commands sent before then fail at once, so callers wait here first.
 */
export async function redisReady(redis: Redis, timeoutMs = COMMAND_TIMEOUT_MS * 2): Promise<boolean> {
  if (redis.status === 'ready') return true
  return new Promise(resolve => {
    const done = (ready: boolean) => {
      clearTimeout(timer)
      redis.off('ready', onReady)
      resolve(ready)
    }
    const onReady = () => done(true)
    const timer = setTimeout(() => done(false), timeoutMs)
    redis.on('ready', onReady)
  })
}

/** Every key of one migration shares a hash tag, so Redis Cluster keeps them in one slot. */
export function keyPrefix(migration: string): string {
  return `dualread:{${migration}}:`
}

/** Deletes every key of a migration (SCAN, not KEYS, so a busy Redis is not blocked); resolves to how many. */
export async function forgetMigration(redis: Redis, migration: string): Promise<number> {
  let deleted = 0
  for await (const keys of redis.scanStream({ match: `${keyPrefix(migration)}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) deleted += await redis.del(...keys)
  }
  return deleted
}

/** The Redis URL for shared state: REDIS_URL wins, else sync.state when it is a redis:// URL. */
export function sharedRedisUrl(syncState: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env['REDIS_URL']) return env['REDIS_URL']
  return /^rediss?:/.test(syncState) ? syncState : undefined
}
