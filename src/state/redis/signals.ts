// The sync's signals in Redis: the pub/sub channel `sync:applied-events` and `sync:status` (expires).
import { setTimeout as delay } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Logger } from '../../telemetry/logger.ts'
import type { AppliedListener, SyncSignals, WrittenListener } from '../signals.ts'
import { inRedis, SYNC_STATE, type SyncKeys } from './call.ts'

/** How long onApplied waits for its subscription while Redis is up. */
const SUBSCRIBE_WAIT_MS = 2000

export class RedisSignals implements SyncSignals {
  #redis: Redis
  #keys: SyncKeys
  #log: Logger
  #subscribers = new Set<Redis>()

  constructor(redis: Redis, keys: SyncKeys, log: Logger) {
    this.#redis = redis
    this.#keys = keys
    this.#log = log
  }

  publishStatus(status: string, ttlMs: number): Promise<void> {
    return inRedis(SYNC_STATE, 'publish the sync status', async () => {
      await this.#redis.set(this.#keys.status, status, 'PX', ttlMs)
    })
  }

  readStatus(): Promise<string | undefined> {
    return inRedis(SYNC_STATE, 'read the sync status', async () => (await this.#redis.get(this.#keys.status)) ?? undefined)
  }

  publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void> {
    return inRedis(SYNC_STATE, 'publish an applied event', async () => {
      await this.#redis.publish(this.#keys.appliedEvents, JSON.stringify([resourceType, tenant, upTo]))
    })
  }

  /**
   * Subscribes on a connection of its own (a subscribed connection can send nothing else). It
   * queues its one SUBSCRIBE until Redis is reachable and subscribes again after every reconnect,
   * so a proxy started while Redis is away hears applied events once it is back.
   */
  onApplied(listener: AppliedListener): Promise<() => Promise<void>> {
    return this.#subscribe(this.#keys.appliedEvents, 'applied events', listener)
  }

  publishWritten(resourceType: string, tenant: string, at: number): Promise<void> {
    return inRedis(SYNC_STATE, 'publish a written event', async () => {
      await this.#redis.publish(this.#keys.writtenEvents, JSON.stringify([resourceType, tenant, at]))
    })
  }

  /** Like onApplied, on the channel of writes forwarded by the proxies. */
  onWritten(listener: WrittenListener): Promise<() => Promise<void>> {
    return this.#subscribe(this.#keys.writtenEvents, 'written events', listener)
  }

  async #subscribe(channel: string, what: string, listener: (resourceType: string, tenant: string, at: number) => void): Promise<() => Promise<void>> {
    const sub = this.#redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null })
    // Once per outage, like connectRedis: reconnect attempts fail every few hundred ms.
    let down = false
    sub.on('error', (err: Error) => {
      if (!down) this.#log.warn({ err: { message: err.message } }, `redis subscriber for ${what}: connection error; retrying`)
      down = true
    })
    sub.on('ready', () => { down = false })
    const onMessage = (_channel: string, message: string) => {
      const [resourceType, tenant, at] = JSON.parse(message) as [string, string, number]
      listener(resourceType, tenant, at)
    }
    sub.on('message', onMessage)
    this.#subscribers.add(sub)
    const subscribed = sub.subscribe(channel).then(() => undefined, (err: Error) => {
      this.#log.warn({ err: { message: err.message } }, `no subscription to ${what}`)
    })
    // With Redis up, callers may publish as soon as this resolves; bounded, in case it just went away.
    if (this.#redis.status === 'ready') await Promise.race([subscribed, delay(SUBSCRIBE_WAIT_MS, undefined, { ref: false })])
    return async () => {
      // Messages already on the wire still arrive while the socket closes; nobody hears them.
      sub.off('message', onMessage)
      this.#subscribers.delete(sub)
      sub.disconnect()
    }
  }

  /** Ends every subscription. */
  close(): void {
    for (const sub of this.#subscribers) sub.disconnect()
    this.#subscribers.clear()
  }
}
