// The fleet's evidence in Redis, under the migration's prefix: a hash per 10 s bucket
// (`evidence:10s:INDEX`, with the set `…:replicas` of who added to it; both expire after 6 h) and
// a hash per hour (`evidence:1h:INDEX`, expiring after `retentionDays`). Fields are
// `rule\0resourceType\0counter`, so a slice has a fixed number of fields in each bucket.
import type { Redis } from 'ioredis'
import { inRedis } from '../state/redis/call.ts'
import type { Fields } from './counts.ts'
import { BUCKET_MS } from './judge.ts'
import { BUCKET_RETENTION_MS, bucketStarts, HOUR_MS, type EvidenceStore, type FleetBucket } from './store.ts'

const AREA = 'evidence'

export class RedisEvidenceStore implements EvidenceStore {
  readonly kind = 'redis'
  #redis: Redis
  #prefix: string

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  #bucketKey(at: number): string {
    return `${this.#prefix}evidence:10s:${Math.floor(at / BUCKET_MS)}`
  }

  #hourKey(at: number): string {
    return `${this.#prefix}evidence:1h:${Math.floor(at / HOUR_MS)}`
  }

  add(replica: string, buckets: Array<{ at: number, fields: Fields }>, retentionDays: number): Promise<void> {
    return inRedis(AREA, 'add the replica\'s counts', async () => {
      // One transaction: a bucket never holds half of a flush.
      const tx = this.#redis.multi()
      for (const { at, fields } of buckets) {
        const bucket = this.#bucketKey(at)
        const hour = this.#hourKey(at)
        for (const [field, n] of fields) {
          tx.hincrby(bucket, field, n)
          tx.hincrby(hour, field, n)
        }
        tx.sadd(`${bucket}:replicas`, replica)
        tx.pexpire(bucket, BUCKET_RETENTION_MS)
        tx.pexpire(`${bucket}:replicas`, BUCKET_RETENTION_MS)
        tx.pexpire(hour, retentionDays * 24 * HOUR_MS)
      }
      failedIn(await tx.exec())
    })
  }

  window(from: number, to: number): Promise<FleetBucket[]> {
    return inRedis(AREA, 'read the fleet\'s buckets', async () => {
      const starts = bucketStarts(from, to, BUCKET_MS)
      const pipe = this.#redis.pipeline()
      for (const at of starts) pipe.hgetall(this.#bucketKey(at)).smembers(`${this.#bucketKey(at)}:replicas`)
      const results = failedIn(await pipe.exec())
      return starts.map((at, i) => ({ at, fields: toFields(results[2 * i] as Record<string, string>), replicas: results[2 * i + 1] as string[] }))
        .filter(b => b.fields.size > 0)
    })
  }

  hours(from: number, to: number): Promise<Array<{ at: number, fields: Fields }>> {
    return inRedis(AREA, 'read the fleet\'s hours', async () => {
      const starts = bucketStarts(from, to, HOUR_MS)
      const pipe = this.#redis.pipeline()
      for (const at of starts) pipe.hgetall(this.#hourKey(at))
      const results = failedIn(await pipe.exec())
      return starts.map((at, i) => ({ at, fields: toFields(results[i] as Record<string, string>) })).filter(h => h.fields.size > 0)
    })
  }
}

/** The replies of a pipeline or transaction (never aborted: no WATCH), or its first error. */
function failedIn(results: Array<[Error | null, unknown]> | null): unknown[] {
  const failed = results!.find(([err]) => err)
  if (failed) throw failed[0]
  return results!.map(([, reply]) => reply)
}

function toFields(hash: Record<string, string>): Fields {
  return new Map(Object.entries(hash).map(([k, v]) => [k, Number(v)]))
}
