// Write-cutover fixtures: two reference APIs, proxies and a sync sharing Redis, and writers that
// write their own keys one after another through a proxy, remembering what was acknowledged.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { policySchema, type CutoverConfig, type Side } from '../../src/policy/schema.ts'
import type { CutoverReport } from '../../src/cutover/request.ts'
import type { ReferenceApi } from '../../src/reference/index.ts'
import { startSyncFixture, type SyncFixture } from './sync.ts'

interface Teardown { teardown(fn: () => unknown): void }

export const TENANT = 'acme'
const RULES = `/api/v1/tenants/${TENANT}/alert-rules`

/** Two reference APIs and a policy in `dir` with its state in Redis under `migration`. */
export async function startCutoverFixture(t: Teardown, dir: string, o: { migration: string, redisUrl: string, maxHoldMs?: number, latencyMs?: number }): Promise<SyncFixture> {
  // Stores that take a moment to answer, as real ones do: writes are in flight when a hold begins.
  const flavour = { latencyMs: o.latencyMs ?? 1 }
  const f = await startSyncFixture(t, dir, { old: { flavour }, new: { flavour } })
  for (const api of [f.old, f.new]) api.store.addTenant(TENANT)
  f.writePolicy({ state: o.redisUrl, migration: o.migration, sync: `cutover: { retryAfterSec: 1, maxHoldMs: ${o.maxHoldMs ?? 5000}, maxLagMs: 5000 }` })
  // Batches as large as a real deployment's, so the sync keeps up with the writers.
  writeFileSync(f.policyFile, readFileSync(f.policyFile, 'utf8').replace('batchSize: 25', 'batchSize: 200'))
  return f
}

/** Edits the authority in a policy file, as an operator would. */
export function setAuthority(policyFile: string, to: Side): void {
  writeFileSync(policyFile, readFileSync(policyFile, 'utf8').replace(/^authority: (old|new)$/m, `authority: ${to}`))
}

export interface WriteRecord { key: string, value: number, servedBy: string | null, started: number, ended: number }

/**
 * `count` writers (about 800 writes/s together by default), each writing its own `keysEach` keys in turn, one write at a time, through
 * `proxyUrl()` until stop(). Acknowledged (2xx) writes are recorded; a 503 (held too long, not
 * sent anywhere) is counted and the next write goes on; anything else is a failure.
 */
export function startWriters(proxyUrl: () => string, o: { count?: number, keysEach?: number, perWriterPerSecond?: number, prefix?: string } = {}) {
  const { count = 8, keysEach = 4, perWriterPerSecond = 100, prefix = 'w' } = o
  let stopping = false
  const acknowledged: WriteRecord[] = []
  const refused: number[] = []
  const failures: string[] = []
  let n = 0
  const writer = async (w: number) => {
    for (let i = 0; !stopping; i++) {
      const key = `${prefix}${w}-k${i % keysEach}`
      const value = ++n
      const started = performance.now()
      try {
        const res = await fetch(`${proxyUrl()}${RULES}/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: key, enabled: true, threshold: value }) })
        const text = await res.text()
        if (res.status === 200) acknowledged.push({ key, value, servedBy: res.headers.get('x-dualread-served-by'), started, ended: performance.now() })
        else if (res.status === 503) refused.push(value)
        else failures.push(`${res.status} ${text}`)
      } catch (err) {
        failures.push((err as Error).message)
      }
      const pause = started + 1000 / perWriterPerSecond - performance.now()
      if (pause > 0) await new Promise(r => setTimeout(r, pause))
    }
  }
  const running = Promise.all(Array.from({ length: count }, (_, w) => writer(w)))
  return {
    acknowledged, refused, failures,
    async stop() {
      stopping = true
      await running
    },
  }
}

/** The last acknowledged value of every key. */
export function lastAcknowledged(records: WriteRecord[]): Map<string, number> {
  const last = new Map<string, number>()
  for (const r of records) if ((last.get(r.key) ?? -1) < r.value) last.set(r.key, r.value)
  return last
}

/** The threshold each written key holds in a store. */
export function thresholds(api: ReferenceApi): Map<string, number> {
  const out = new Map<string, number>()
  for (const item of api.store.list('alert-rule', TENANT).items) out.set(item.id, (item as unknown as { threshold: number }).threshold)
  return out
}

export function sameMaps(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v)
}

export function stateDirOf(dir: string, name: string): string {
  return join(dir, name)
}

/** GET /cutover of an admin server. */
export async function cutoverReport(adminUrl: string): Promise<CutoverReport & { lastAbort: { reason: string, at: number } | null, lastSwitch: { holdMs: number } | null }> {
  return await (await fetch(`${adminUrl}/cutover`)).json() as CutoverReport & { lastAbort: { reason: string, at: number } | null, lastSwitch: { holdMs: number } | null }
}

/** Acknowledged writes whose last value is not what `authority` holds. */
export function lostWrites(records: WriteRecord[], authority: Map<string, number>): Array<[string, number]> {
  return [...lastAcknowledged(records)].filter(([key, value]) => authority.get(key) !== value)
}

/** The `cutover` block of a policy that does not set one. */
export const CutoverConfigDefaults: CutoverConfig = policySchema.shape.cutover.parse(undefined)
