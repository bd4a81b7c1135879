// The evidence of a process without shared state (the embedded mode): the same buckets, in memory.
import { addFields, type Fields } from './counts.ts'
import { BUCKET_MS } from './judge.ts'
import { BUCKET_RETENTION_MS, bucketStarts, HOUR_MS, type EvidenceStore, type FleetBucket } from './store.ts'

export class MemoryEvidenceStore implements EvidenceStore {
  readonly kind = 'memory'
  #buckets = new Map<number, { fields: Fields, replicas: Set<string> }>()
  #hours = new Map<number, Fields>()
  #clock: () => number

  constructor(clock: () => number = Date.now) {
    this.#clock = clock
  }

  async add(replica: string, buckets: Array<{ at: number, fields: Fields }>, retentionDays: number): Promise<void> {
    for (const { at, fields } of buckets) {
      let b = this.#buckets.get(at)
      if (!b) this.#buckets.set(at, b = { fields: new Map(), replicas: new Set() })
      addFields(b.fields, fields)
      b.replicas.add(replica)
      const hour = Math.floor(at / HOUR_MS) * HOUR_MS
      let h = this.#hours.get(hour)
      if (!h) this.#hours.set(hour, h = new Map())
      addFields(h, fields)
    }
    const now = this.#clock()
    for (const at of this.#buckets.keys()) if (at < now - BUCKET_RETENTION_MS) this.#buckets.delete(at)
    for (const at of this.#hours.keys()) if (at < now - retentionDays * 24 * HOUR_MS) this.#hours.delete(at)
  }

  async window(from: number, to: number): Promise<FleetBucket[]> {
    const out: FleetBucket[] = []
    for (const at of bucketStarts(from, to, BUCKET_MS)) {
      const b = this.#buckets.get(at)
      if (b) out.push({ at, fields: new Map(b.fields), replicas: [...b.replicas] })
    }
    return out
  }

  async hours(from: number, to: number): Promise<Array<{ at: number, fields: Fields }>> {
    return [...this.#hours.entries()].filter(([at]) => at >= from && at < to).sort((a, b) => a[0] - b[0]).map(([at, fields]) => ({ at, fields: new Map(fields) }))
  }
}
