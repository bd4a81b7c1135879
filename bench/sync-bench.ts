// The sync loop, measured: backfill rate from the reference API, and how long a write through the
// proxy takes to reach the other store at a fixed write rate (from the client's answer to the
// sync's acknowledgement of that write).
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { syncOnce } from '../src/sidecar/sync-process.ts'
import { forgetMigration } from '../src/state/redis/connect.ts'
import { openStateStore } from '../src/state/open.ts'
import { createLogger } from '../src/telemetry/logger.ts'
import type { ChildProcesses } from './processes.ts'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const BACKFILL_TENANTS = 20
const BACKFILL_PER_TYPE = 250
const BACKFILL_CONCURRENCY = 8
const BACKFILL_BATCH = 500

/**
 * How the backfill writes: `put` to each object's item path (ids shared), or `post` to the
 * collection of a store that assigns its own ids, pairing by natural key with the id map kept.
 */
export type WriteWay = 'put' | 'post'

/** The bench's policy for two reference APIs, its sync state in Redis under `migration`. */
export function benchPolicy(oldUrl: string, newUrl: string, migration: string, concurrency: number, types: Array<[string, string]> = [['alert-rule', 'alert-rules'], ['team', 'teams']], way: WriteWay = 'put'): string {
  const post = way === 'put' ? '' : `
    naturalKey: [/name]
    write: { create: { method: POST, path: collection } }`
  const resource = (type: string, collection: string) => `
  - type: ${type}
    collection: /api/v1/tenants/:tenant/${collection}
    item: /api/v1/tenants/:tenant/${collection}/:id
    version: /version${post}
    compare: { ignore: [/updatedAt] }`
  return `version: 1
migration: ${migration}
upstreams:
  old: { url: ${oldUrl} }
  new: { url: ${newUrl} }
authority: old
resources:${types.map(([type, collection]) => resource(type, collection)).join('')}
rules:
  - name: default
    primary: old
sync:
  state: ${REDIS_URL}
  batchSize: ${BACKFILL_BATCH}
  concurrency: ${concurrency}
  maxWritesPerSecond: 1000000
  fullScanIntervalSec: 3600
  tenants: { list: /api/v1/tenants }
`
}

/** Removes a bench migration's keys from Redis (stop the processes that use it first: running, they write them again). */
export async function forget(migration: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  await forgetMigration(redis, migration)
  redis.disconnect()
}

export interface BackfillResult { objects: number, seconds: number, rate: number, converged: boolean }

/** Types whose seeded names are unique per tenant, so `/name` can be their natural key. */
const NAMED_TYPES: Array<[string, string]> = [['team', 'teams'], ['contact-point', 'contact-points']]

/**
 * `dualread sync --once` from a seeded reference API into an empty one. `way: 'post'`: into a store
 * that assigns its own ids (POST creates, natural-key pairing, the id map in Redis); both ways
 * copy the same two types when `named` is set.
 */
export async function measureBackfill(children: ChildProcesses, o: { way?: WriteWay, named?: boolean } = {}): Promise<BackfillResult> {
  const way = o.way ?? 'put'
  const tenants = Array.from({ length: BACKFILL_TENANTS }, (_, i) => `tenant-${i}`)
  const old = await children.referenceApi('reference api (old, seeded)', { tenants, perType: BACKFILL_PER_TYPE })
  const neu = await children.referenceApi('reference api (new, empty)', undefined, way === 'post' ? { serverIds: true } : undefined)
  const migration = `bench-${randomUUID()}`
  const dir = await mkdtemp(join(tmpdir(), 'dualread-bench-sync-'))
  try {
    const policyFile = join(dir, 'policy.yaml')
    await writeFile(policyFile, benchPolicy(old.url, neu.url, migration, BACKFILL_CONCURRENCY, o.named === true || way === 'post' ? NAMED_TYPES : undefined, way))
    const started = performance.now()
    const r = await syncOnce({ policyFile, stateDir: dir, log: createLogger({ level: 'warn' }) })
    const seconds = (performance.now() - started) / 1000
    return { objects: r.upserted, seconds, rate: r.upserted / seconds, converged: r.converged }
  } finally {
    await forget(migration)
    await rm(dir, { recursive: true, force: true })
  }
}

export interface PropagationResult { writes: number, p50: number, p99: number, lost: number }

/**
 * Writes at `rate` per second through a dualread proxy for `seconds`, each to its own tenant, while
 * `dualread sync` runs; the latency of a write is from its answer to the sync acknowledging it.
 */
export async function measurePropagation(children: ChildProcesses, rate: number, seconds: number): Promise<PropagationResult> {
  const old = await children.referenceApi('reference api (old)')
  const neu = await children.referenceApi('reference api (new)')
  const migration = `bench-${randomUUID()}`
  const text = benchPolicy(old.url, neu.url, migration, 4)
  const proxy = await children.dualreadCommand('dualread proxy (writes)', 'proxy', text, { REDIS_URL })
  const sync = await children.dualreadCommand('dualread sync', 'sync', text, { REDIS_URL })
  const state = await openStateStore(REDIS_URL, migration, createLogger({ level: 'error' }))
  const answered = new Map<string, number>()
  const latencies: number[] = []
  const stop = await state.signals.onApplied((_type, tenant) => {
    const at = answered.get(tenant)
    if (at === undefined) return
    latencies.push(performance.now() - at)
    answered.delete(tenant)
  })
  const pool = new Pool(proxy.url, { connections: 8 })
  try {
    const total = Math.round(rate * seconds)
    const started = performance.now()
    const writes: Promise<void>[] = []
    for (let i = 0; i < total; i++) {
      const due = started + i * 1000 / rate
      const wait = due - performance.now()
      if (wait > 0) await new Promise(r => setTimeout(r, wait))
      const tenant = `prop-${i}`
      writes.push(pool.request({
        method: 'PUT', path: `/api/v1/tenants/${tenant}/alert-rules/r1`,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'propagation', enabled: true, threshold: i }),
      }).then(async res => {
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`write answered ${res.statusCode}`)
        answered.set(tenant, performance.now())
      }))
    }
    await Promise.all(writes)
    const deadline = performance.now() + 5000
    while (answered.size > 0 && performance.now() < deadline) await new Promise(r => setTimeout(r, 20))
    latencies.sort((a, b) => a - b)
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
    return { writes: total, p50: at(0.5), p99: at(0.99), lost: answered.size }
  } finally {
    await pool.close()
    await stop()
    await state.close()
    await children.stop(proxy)
    await children.stop(sync)
    await forget(migration)
  }
}
