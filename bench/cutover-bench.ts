// The write cutover, measured: writes at a fixed rate through a dualread proxy while the sync
// leader moves the authority from old to new. How much longer a write took while the cutover held
// it, against writes before it, and how long from the request to the switch.
import { randomUUID } from 'node:crypto'
import { Pool } from 'undici'
import type { ChildProcesses } from './processes.ts'
import { benchPolicy, forget } from './sync-bench.ts'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const SWITCH_TIMEOUT_MS = 30_000

export interface CutoverHoldResult {
  writes: number
  failed: number
  /** Writes that started between the request and the switch. */
  held: number
  baselineP50: number
  extraP50: number
  extraP99: number
  extraMax: number
  switchMs: number
  lagMs: number
}


const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN

/** `rate` writes/s for `seconds`, each tenant its own key in turn; the cutover is asked for half way. */
export async function measureCutoverHold(children: ChildProcesses, rate: number, seconds: number): Promise<CutoverHoldResult> {
  const old = await children.referenceApi('reference api (old, cutover)', { tenants: ['acme'], perType: 50 })
  const neu = await children.referenceApi('reference api (new, cutover)')
  const migration = `bench-${randomUUID()}`
  const text = benchPolicy(old.url, neu.url, migration, 4)
  const proxy = await children.dualreadCommand('dualread proxy (cutover)', 'proxy', text, { REDIS_URL })
  const sync = await children.dualreadCommand('dualread sync (cutover)', 'sync', text, { REDIS_URL })
  const pool = new Pool(proxy.url, { connections: 16 })
  const writes: Array<{ started: number, ms: number }> = []
  let failed = 0
  let asked = Infinity
  let switched = Infinity
  let lagMs = NaN
  try {
    const total = Math.round(rate * seconds)
    const started = performance.now()
    const pending: Promise<void>[] = []
    const cutover = (async () => {
      await new Promise(r => setTimeout(r, seconds * 500))
      const status = await (await fetch(`${sync.url}/status`)).json() as { lagSeconds: Record<string, number> }
      lagMs = Math.max(0, ...Object.values(status.lagSeconds)) * 1000
      asked = performance.now()
      await fetch(`${sync.url}/cutover`, { method: 'POST', body: '{"to":"new"}' })
      while (performance.now() - asked < SWITCH_TIMEOUT_MS) {
        const r = await (await fetch(`${sync.url}/cutover`)).json() as { effective: string, phase: string }
        if (r.effective === 'new' && r.phase === 'steady') { switched = performance.now(); return }
        await new Promise(r => setTimeout(r, 10))
      }
    })()
    for (let i = 0; i < total; i++) {
      const due = started + i * 1000 / rate
      const wait = due - performance.now()
      if (wait > 0) await new Promise(r => setTimeout(r, wait))
      const t0 = performance.now()
      pending.push(pool.request({
        method: 'PUT', path: `/api/v1/tenants/acme/alert-rules/cutover-${i % 20}`,
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cutover', enabled: true, threshold: i }),
      }).then(async res => {
        await res.body.dump()
        if (res.statusCode === 200) writes.push({ started: t0, ms: performance.now() - t0 })
        else failed++
      }, () => { failed++ }))
    }
    await Promise.all([...pending, cutover])
  } finally {
    await pool.close()
    await children.stop(proxy)
    await children.stop(sync)
    await forget(migration)
  }
  const before = writes.filter(w => w.started < asked).map(w => w.ms).sort((a, b) => a - b)
  const baselineP50 = quantile(before, 0.5)
  const held = writes.filter(w => w.started >= asked && w.started <= switched).map(w => Math.max(0, w.ms - baselineP50)).sort((a, b) => a - b)
  return {
    writes: writes.length, failed, held: held.length, baselineP50,
    extraP50: quantile(held, 0.5), extraP99: quantile(held, 0.99), extraMax: held.at(-1) ?? NaN,
    switchMs: switched - asked, lagMs,
  }
}
