// `dualread demo`: a whole migration on one machine. Two reference alerting APIs (the new one with
// real hazards), the proxy, the sync loop and traffic; the cutover is narrated as it happens,
// each step driven by the same policy edit an operator would make.
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startReferenceApi, seededId, type ReferenceApi } from '../reference/index.ts'
import { startProxySidecar, type ProxySidecar } from '../sidecar/proxy-sidecar.ts'
import { startSyncProcess, type SyncProcess } from '../sidecar/sync-process.ts'
import { connectRedis, forgetMigration, redisReady } from '../state/redis/connect.ts'
import { openStateStore } from '../state/open.ts'
import type { StateStore } from '../state/state-store.ts'
import type { Logger } from '../telemetry/logger.ts'
import { readAdmin } from '../status/read.ts'
import { proxyStatus, type ProxyStatus } from '../status/schema.ts'
import { TrafficGenerator } from './traffic.ts'
import { BUCKET_MS } from '../evidence/judge.ts'

const DEMO_POLICY = new URL('../../policies/demo.yaml', import.meta.url)
export const DEMO_TENANTS = ['acme', 'globex', 'initech']
const PER_TYPE = 8
/** How long the demo waits for a step's outcome before it says so and moves on. */
const STEP_TIMEOUT_MS = 30_000
const POLL_MS = 250

export interface DemoOptions {
  listen: string
  admin: string
  syncAdmin: string
  oldPort: number
  newPort: number
  stateDir: string
  /** Keep the sync state and rollback overrides in this Redis (under a migration name of the run's own, deleted on stop) instead of a local file. */
  redisUrl?: string
  log: Logger
  /** How long a step may take before the narration says so and moves on. */
  stepTimeoutMs?: number
  /** Narration, one line at a time. */
  say: (line: string) => void
}

export interface Demo {
  proxyUrl: string
  adminUrl: string
  /** Resolves when the narrated cutover has been played through. */
  finished: Promise<void>
  stop(): Promise<void>
}

/**
 * Starts everything and plays the cutover in the background.
 * @example
 * const demo = await startDemo({ ..., say: console.log })
 * await demo.finished
 */
export async function startDemo(o: DemoOptions): Promise<Demo> {
  // Each demo starts from scratch: its stores are new, so its sync state must be too.
  await rm(join(o.stateDir, 'state'), { recursive: true, force: true })
  await mkdir(o.stateDir, { recursive: true })
  const stopping: Array<() => Promise<unknown>> = []
  const stop = async () => { for (const s of stopping.reverse()) await s().catch(() => undefined) }
  try {
    const old = await startReferenceApi({ port: o.oldPort, seed: { tenants: DEMO_TENANTS, perType: PER_TYPE } })
    stopping.push(() => old.close())
    // The new store's hazards: it rewrites durations ("5m" → "300s") and quietly drops a field.
    const neu = await startReferenceApi({ port: o.newPort, flavour: { normalizeDurations: true, dropField: 'escalationPolicyId' } })
    stopping.push(() => neu.close())
    const policyFile = join(o.stateDir, 'policy.yaml')
    // With Redis, a migration name of this run's own: a previous run's rollbacks and hashes mean nothing to these new stores.
    const migration = o.redisUrl ? `demo-${randomUUID().slice(0, 8)}` : 'demo'
    const stateUrl = o.redisUrl ?? `file:${join(o.stateDir, 'state')}`
    await writeFile(policyFile, (await readFile(DEMO_POLICY, 'utf8'))
      .replace('http://127.0.0.1:8081', old.url).replace('http://127.0.0.1:8082', neu.url)
      .replace('file:.dualread/demo/state', stateUrl).replace('migration: demo', `migration: ${migration}`))
    if (o.redisUrl) stopping.push(() => forgetDemo(o.redisUrl!, migration, o.log))
    const state = await openStateStore(stateUrl, migration, o.log)
    stopping.push(() => state.close())
    const sync = await startSyncProcess({ policyFile, stateDir: o.stateDir, log: o.log, admin: o.syncAdmin, state, policyCheckIntervalMs: 500 })
    stopping.push(() => sync.stop())
    const proxy = await startProxySidecar({ policyFile, stateDir: o.stateDir, log: o.log, listen: o.listen, admin: o.admin, changeStore: state, policyCheckIntervalMs: 500, redisUrl: o.redisUrl ?? null })
    stopping.push(() => proxy.stop())
    const traffic = new TrafficGenerator(proxy.proxyUrl, DEMO_TENANTS, PER_TYPE)
    traffic.start()
    stopping.push(() => traffic.stop())
    o.say(`dualread demo: proxy ${proxy.proxyUrl} · dashboard ${proxy.adminUrl}/ui · metrics ${proxy.adminUrl}/metrics · status ${proxy.adminUrl}/status · sync ${sync.adminUrl}/ui`)
    o.say(`  old store ${old.url}, new store ${neu.url}; working policy ${policyFile} (every edit below is made there); state ${o.redisUrl ? `Redis, migration ${migration}` : stateUrl}`)
    o.say(`  try: curl -si ${proxy.proxyUrl}/api/v1/tenants/acme/alert-rules/${seededId('alert-rule', 1)} | grep x-dualread`)
    const finished = narrate({ o, old, neu, proxy, sync, state, policyFile, traffic }).catch(err => o.say(`demo stopped narrating: ${(err as Error).message}`))
    return { proxyUrl: proxy.proxyUrl, adminUrl: proxy.adminUrl, finished, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

interface Stage {
  o: DemoOptions
  old: ReferenceApi
  neu: ReferenceApi
  proxy: ProxySidecar
  sync: SyncProcess
  state: StateStore
  policyFile: string
  traffic: TrafficGenerator
}

async function narrate(s: Stage): Promise<void> {
  const { say } = s.o
  const until = <T>(check: () => Promise<T>, what: string) => waitFor(check, what, say, s.o.stepTimeoutMs ?? STEP_TIMEOUT_MS)
  const status = () => readAdmin(s.proxy.adminUrl, '/status', proxyStatus, {})
  /** The comparisons of `rule`, or of every rule. */
  const totals = (st: ProxyStatus, rule?: string) => {
    const out = { match: 0, cosmetic: 0, critical: 0, lag: 0, error: 0 }
    for (const slice of st.parity.filter(p => rule === undefined || p.rule === rule)) for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] += slice.results[k]
    return out
  }
  const edit = async (description: string, from: string, to: string) => {
    const before = (await status()).policy.generation
    const text = await readFile(s.policyFile, 'utf8')
    await writeFile(s.policyFile, text.replace(from, to))
    say(`  policy edit: ${description}`)
    for (const line of to.split('\n')) say(`    + ${line.trim()}`)
    await until(async () => (await status()).policy.generation > before, 'the proxy to apply the edit')
  }

  say('')
  say('1. Shadow. Every read is served by old and also sent to new; both answers are compared.')
  await until(async () => {
    const t = totals(await status(), 'default')
    return t.match + t.cosmetic + t.critical >= 30
  }, '30 comparisons')
  const first = await status()
  const drift = first.parity.filter(p => p.resourceType === 'alert-rule').flatMap(p => p.topPointers)
  say(`   drift found on alert rules: ${summarize(drift)}`)
  say('   /for is cosmetic: the new store writes "5m" as "300s". /escalationPolicyId is critical: the new store drops it, so nobody would be escalated.')

  say('')
  say('2. Tune and fix. Compare durations by value; the new store ships a fix for the dropped field, and the sync copies everything again.')
  s.neu.setFlavour({ dropField: null })
  await edit('compare durations by value (resources[alert-rule].compare)', 'unordered: { /receivers: /name, /labels: null }', 'unordered: { /receivers: /name, /labels: null }\n      normalize: { /for: duration }')
  // Drift stops once the sync has copied everything again; count matches since the last difference,
  // acme's too: its slice is the next one on new, and the gate it arms must not find drift left over.
  const streak = cleanStreak(totals(await status()))
  // The gate that step 3 arms counts from the start of the 10 s bucket it is armed in: no drift may be in it.
  const bucketClean = (st: ProxyStatus) => {
    const current = new Date(Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS).toISOString()
    return st.parity.every(p => !p.history.some(b => b.at === current && b.critical > 0))
  }
  const clean = await until(async () => {
    const st = await status()
    return streak(totals(st)) >= 25 && bucketClean(st)
  }, '25 comparisons in a row without drift')
  if (clean) say(`   parity is clean: 25 comparisons in a row matched (all so far: ${JSON.stringify(totals(await status()))})`)

  say('')
  say('3. First slice on new. Tenant acme is now read from new; old is still shadow-read, so a drift gate watches it.')
  await edit('acme reads from new (rules[acme])', 'name: acme\n    match: { tenants: [acme] }\n    primary: old', 'name: acme\n    match: { tenants: [acme] }\n    primary: new')
  // A contact point: the traffic writes alert rules, which pins their reads to the authority for a moment (read-your-writes).
  const res = await fetch(`${s.proxy.proxyUrl}/api/v1/tenants/acme/contact-points/${seededId('contact-point', 1)}`)
  await res.arrayBuffer()
  say(`   a read of acme now says: x-dualread-served-by: ${res.headers.get('x-dualread-served-by')}, x-dualread-rule: ${res.headers.get('x-dualread-rule')}`)

  say('')
  say('4. Trouble. The new store starts silently dropping writes: acme\'s thresholds on new go stale, and reads would page on old numbers.')
  s.neu.setFlavour({ rejectWritesPercent: 100 })
  const tripped = await until(async () => (await status()).overrides.entries['acme'], 'the drift gate')
  if (tripped) {
    say(`   the gate rolled acme back to the authority (old): ${tripped.reason}`)
    const after = await fetch(`${s.proxy.proxyUrl}/api/v1/tenants/acme/alert-rules/${seededId('alert-rule', 1)}`)
    await after.arrayBuffer()
    say(`   a read of acme now says: x-dualread-served-by: ${after.headers.get('x-dualread-served-by')}, x-dualread-reason: ${after.headers.get('x-dualread-reason')}`)
  }
  say('')
  say('5. Write cutover. The new store is fixed; writes move to it: every proxy holds writes, the sync drains, the authority switches, and the sync turns round so old keeps up.')
  s.neu.setFlavour({ rejectWritesPercent: 0 })
  await edit('writes go to new (authority)', 'authority: old', 'authority: new')
  const cutover = async () => (await (await fetch(`${s.proxy.adminUrl}/cutover`)).json()) as { effective: string, epoch: number, lastSwitch: { holdMs: number } | null }
  const switched = await until(async () => { const c = await cutover(); return c.effective === 'new' && c.lastSwitch ? c : undefined }, 'the write cutover')
  if (switched) say(`   writes go to new (epoch ${switched.epoch}; writes were held ${switched.lastSwitch!.holdMs} ms); the sync now copies new → old, so going back to old loses nothing`)
  say('')
  say(`Done: the cutover played through. Traffic keeps flowing (${s.traffic.sent} requests so far). Look around:`)
  say(`  dashboard ${s.proxy.adminUrl}/ui · npx dualread parity --admin ${s.proxy.adminUrl} · npx dualread rollback --admin ${s.proxy.adminUrl} --clear`)
}

/** Removes the run's keys from Redis: its stores were in memory, so its state means nothing after it. */
async function forgetDemo(url: string, migration: string, log: Logger): Promise<void> {
  const redis = connectRedis(url, log)
  try {
    if (await redisReady(redis)) await forgetMigration(redis, migration)
  } finally {
    redis.disconnect()
  }
}

/** Polls `check` until it gives a truthy value; says so when it does not within the step timeout. */
async function waitFor<T>(check: () => Promise<T>, what: string, say: (line: string) => void, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const v = await check()
    if (v) return v
    await new Promise(r => setTimeout(r, POLL_MS))
  }
  say(`   (waited ${timeoutMs / 1000} s for ${what}; moving on)`)
  return undefined
}

type Totals = Record<'match' | 'cosmetic' | 'critical', number>

/** Tracks running totals; each call says how many matches there have been since the last difference. */
export function cleanStreak(start: Totals): (now: Totals) => number {
  let baseline = start
  const drift = (t: Totals) => t.critical + t.cosmetic
  return now => {
    if (drift(now) !== drift(baseline)) baseline = now
    return now.match - baseline.match
  }
}

/** The most frequent drifting pointers, merged across slices: "/for (cosmetic, 46×), ...". */
export function summarize(pointers: Array<{ pointer: string, severity: string, count: number }>): string {
  const merged = new Map<string, { severity: string, count: number }>()
  for (const p of pointers) {
    const m = merged.get(p.pointer)
    if (m) m.count += p.count
    else merged.set(p.pointer, { severity: p.severity, count: p.count })
  }
  return [...merged.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 4).map(([p, v]) => `${p} (${v.severity}, ${v.count}×)`).join(', ') || 'none'
}
