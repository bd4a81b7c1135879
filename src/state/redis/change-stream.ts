// The change stream in Redis: the stream `sync:changes` (offsets are stream ids) and `sync:offset`.
// Trimmed with MAXLEN ~, which drops whole stream nodes, so it may hold up to
// stream-node-max-entries (100 by default) more than the bound.
import type { Redis } from 'ioredis'
import type { Change, ChangeEvent, ChangeStream } from '../change-stream.ts'
import { inRedis, SYNC_STATE, type SyncKeys } from './call.ts'

export class RedisChangeStream implements ChangeStream {
  #redis: Redis
  #keys: SyncKeys
  #limit: number

  constructor(redis: Redis, keys: SyncKeys, limit: number) {
    this.#redis = redis
    this.#keys = keys
    this.#limit = limit
  }

  append(change: Change): Promise<void> {
    const fields = ['type', change.resourceType, 'tenant', change.tenant, 'at', String(change.at)]
    if (change.id !== undefined) fields.push('id', change.id)
    if (change.traceparent !== undefined) fields.push('traceparent', change.traceparent)
    return inRedis(SYNC_STATE, 'append a change', async () => {
      await this.#redis.xadd(this.#keys.changes, 'MAXLEN', '~', this.#limit, '*', ...fields)
    })
  }

  read(offset: string, count: number): Promise<ChangeEvent[]> {
    const start = offset === '0' ? '-' : `(${offset}`
    return inRedis(SYNC_STATE, 'read changes', async () => {
      const entries = await this.#redis.xrange(this.#keys.changes, start, '+', 'COUNT', count)
      return entries.map(([id, flat]) => toChange(id, flat))
    })
  }

  since(at: number, count: number): Promise<ChangeEvent[]> {
    // Stream ids start with Redis's clock at the append, a moment after the proxy's `at`.
    return inRedis(SYNC_STATE, 'read recent changes', async () => {
      const entries = await this.#redis.xrange(this.#keys.changes, `${Math.max(0, Math.floor(at))}-0`, '+', 'COUNT', count)
      return entries.map(([id, flat]) => toChange(id, flat)).filter(c => c.at >= at)
    })
  }

  getOffset(): Promise<string> {
    return inRedis(SYNC_STATE, 'read the change offset', async () => (await this.#redis.get(this.#keys.offset)) ?? '0')
  }

  setOffset(offset: string): Promise<void> {
    return inRedis(SYNC_STATE, 'write the change offset', async () => {
      await this.#redis.set(this.#keys.offset, offset)
    })
  }
}

function toChange(offset: string, flat: string[]): ChangeEvent {
  const fields = new Map<string, string>()
  for (let i = 0; i < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!)
  const id = fields.get('id')
  const traceparent = fields.get('traceparent')
  return {
    offset,
    resourceType: fields.get('type')!,
    tenant: fields.get('tenant')!,
    ...(id === undefined ? {} : { id }),
    at: Number(fields.get('at')),
    ...(traceparent === undefined ? {} : { traceparent }),
  }
}
