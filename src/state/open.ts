// `sync.state` → the StateStore it names.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../telemetry/logger.ts'
import { connectRedis, keyPrefix, redisReady } from './redis/connect.ts'
import { FileStateStore } from './file/state-store.ts'
import { RedisStateStore } from './redis/state-store.ts'
import type { StateStore, StateStoreBounds } from './state-store.ts'

/**
 * Opens the sync state of `migration`: `redis://` or `rediss://` → Redis under the migration's
 * key prefix (returned even when Redis is not up yet: its calls fail until it is); `file:PATH`
 * or `file:///abs/path` → a state file in directory PATH (relative to the working directory).
 *
 * @example
 * const store = await openStateStore('file:.dualread/state', 'alerting', log)
 */
export async function openStateStore(url: string, migration: string, log: Logger, bounds: StateStoreBounds = {}): Promise<StateStore> {
  if (/^rediss?:\/\//.test(url)) {
    const redis = connectRedis(url, log)
    if (!await redisReady(redis)) log.warn({ migration }, 'redis for sync state is not reachable yet; the sync waits for it')
    return new RedisStateStore(redis, keyPrefix(migration), log, bounds)
  }
  if (url.startsWith('file://')) return FileStateStore.open(fileURLToPath(url), bounds)
  if (url.startsWith('file:') && url.length > 'file:'.length) return FileStateStore.open(resolve(url.slice('file:'.length)), bounds)
  throw new Error(`sync.state "${url}" is not a state store: use redis://HOST:PORT[/DB], rediss://... or file:DIRECTORY (for example file:.dualread/state)`)
}
