// One replica's part of the fleet's evidence: it counts each shadow pair into the current 10 s
// bucket in memory (nothing on the read path waits for the store), adds its counts to the shared
// store once a second, and reads back the fleet's buckets for the gates, readiness and /status.
import type { Policy } from '../policy/schema.ts'
import { ConditionLog, type Condition } from '../telemetry/condition-log.ts'
import type { Logger } from '../telemetry/logger.ts'
import { addFields, addObservation, slicesOf, type Fields, type Observation } from './counts.ts'
import { BUCKET_MS, judgeRule, longestWindowSec, type Bucket } from './judge.ts'
import { MemoryEvidenceStore } from './memory-store.ts'
import { HOUR_MS, type EvidenceStore } from './store.ts'

/** How often counts go to the store and the fleet's are read back. */
export const FLUSH_MS = 1000
/** Hourly buckets are read again this often (for the decommission bar). */
const HOURS_REFRESH_MS = 60_000
/** Counts kept for a store that does not answer: an hour of buckets; older ones are dropped. */
const MAX_PENDING_BUCKETS = 360

export interface FleetSnapshot {
  /** The 10 s buckets of the longest gate window, oldest first. */
  buckets: Bucket[]
  /** Replicas that added to those buckets. */
  replicas: number
  /** When it was read (ms); 0 before the first read. */
  at: number
  /** Why the fleet's numbers could not be read, when they could not. */
  unavailable?: string
}

export interface Decommission {
  ready: boolean
  cleanHours: number
  neededHours: number
  reason: string
}

export interface EvidenceRecorderOptions {
  store: EvidenceStore
  replica: string
  log: Logger
  policy: () => Policy
  clock?: () => number
  /** Called after every refresh of the fleet's numbers (the gates judge then); must not throw. */
  onRefreshed?: () => Promise<void>
}

const storeDown = (): Condition => ({
  fields: {},
  began: 'cannot add this replica\'s comparison counts to the fleet\'s evidence; kept in memory and retried',
  summary: (n, s) => `${n} more attempts to add comparison counts failed (last ${s} s); the fleet's numbers leave this replica out meanwhile`,
  ended: n => `evidence store answers again: this replica's counts are added (${n} attempts waited)`,
})

export class EvidenceRecorder {
  #o: EvidenceRecorderOptions
  #clock: () => number
  #pending = new Map<number, Fields>()
  /** This replica's own counts: what the gates judge on while the shared store cannot be read. */
  #local: MemoryEvidenceStore | undefined
  #localPending = new Map<number, Fields>()
  #snapshot: FleetSnapshot = { buckets: [], replicas: 0, at: 0 }
  #hours: Array<{ at: number, fields: Fields }> = []
  #hoursAt = -Infinity
  #conditions: ConditionLog
  #timer: NodeJS.Timeout | undefined
  #ticking: Promise<void> | undefined
  #again = false

  constructor(o: EvidenceRecorderOptions) {
    this.#o = o
    this.#clock = o.clock ?? Date.now
    this.#conditions = new ConditionLog(o.log)
    if (o.store.kind !== 'memory') this.#local = new MemoryEvidenceStore(this.#clock)
  }

  get snapshot(): FleetSnapshot {
    return this.#snapshot
  }

  /**
   * Counts one shadow pair; synchronous and in memory. A critical difference is sent and judged at
   * once (the gates need not wait for the next second); everything else goes with the next tick.
   */
  observe(o: Observation): void {
    const at = Math.floor(this.#clock() / BUCKET_MS) * BUCKET_MS
    let fields = this.#pending.get(at)
    if (!fields) {
      this.#pending.set(at, fields = new Map())
      if (this.#pending.size > MAX_PENDING_BUCKETS) this.#pending.delete(this.#pending.keys().next().value!)
    }
    addObservation(fields, o)
    if (this.#local) {
      let local = this.#localPending.get(at)
      if (!local) this.#localPending.set(at, local = new Map())
      addObservation(local, o)
    }
    if (o.outcome === 'critical') void this.tick()
  }

  /** Adds what this replica counted to the store and reads the fleet's numbers back; one at a time. */
  tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true
      return this.#ticking
    }
    this.#ticking = (async () => {
      do {
        this.#again = false
        await this.#tick()
      } while (this.#again)
    })().finally(() => { this.#ticking = undefined })
    return this.#ticking
  }

  async #tick(): Promise<void> {
    const policy = this.#o.policy()
    // Both taken before the first await: what is counted meanwhile goes with the next tick.
    const sending = [...this.#pending.entries()].map(([at, fields]) => ({ at, fields }))
    this.#pending.clear()
    const mirrored = [...this.#localPending.entries()].map(([at, fields]) => ({ at, fields }))
    this.#localPending.clear()
    await this.#local?.add(this.#o.replica, mirrored, policy.evidence.retentionDays)
    try {
      if (sending.length > 0) await this.#o.store.add(this.#o.replica, sending, policy.evidence.retentionDays)
      this.#conditions.end('down')
    } catch {
      this.#conditions.event('down', storeDown)
      // Kept for the next attempt, with what was counted meanwhile.
      for (const { at, fields } of sending) {
        const into = this.#pending.get(at)
        if (into) addFields(into, fields)
        else this.#pending.set(at, fields)
      }
    }
    const now = this.#clock()
    try {
      const buckets = await this.#o.store.window(now - longestWindowSec(policy) * 1000 - BUCKET_MS, now + BUCKET_MS)
      this.#snapshot = { buckets, replicas: new Set(buckets.flatMap(b => b.replicas)).size, at: now }
      if (now - this.#hoursAt >= HOURS_REFRESH_MS) {
        this.#hours = await this.#o.store.hours(now - (policy.evidence.decommissionAfterHours + 1) * HOUR_MS, now + HOUR_MS)
        this.#hoursAt = now
      }
    } catch (err) {
      // Judged on this replica's own numbers meanwhile, and said so.
      const buckets = await this.#local!.window(now - longestWindowSec(policy) * 1000 - BUCKET_MS, now + BUCKET_MS)
      this.#snapshot = { buckets, replicas: 1, at: now, unavailable: `${(err as Error).message}; showing this replica's own comparisons` }
    }
    await this.#o.onRefreshed?.()
  }

  /**
   * Sustained parity: the hours before the current one, newest first, each with comparisons and
   * every slice in it judged ready-or-inconclusive by its rule's gate on that hour alone, and no
   * critical difference anywhere; decommission waits for `decommissionAfterHours` of them in a row.
   */
  decommission(policy: Policy): Decommission {
    const needed = policy.evidence.decommissionAfterHours
    const current = Math.floor(this.#clock() / HOUR_MS) * HOUR_MS
    let clean = 0
    let broke = 'no comparisons recorded yet'
    for (let at = current - HOUR_MS; clean < needed; at -= HOUR_MS) {
      const hour = this.#hours.find(h => h.at === at)
      const why = hour ? uncleanHour(policy, hour) : 'no comparisons'
      if (why) {
        broke = `${new Date(at).toISOString().slice(0, 13)}:00Z: ${why}`
        break
      }
      clean++
    }
    return clean >= needed
      ? { ready: true, cleanHours: clean, neededHours: needed, reason: `${clean} clean hours in a row across every slice` }
      : { ready: false, cleanHours: clean, neededHours: needed, reason: `${clean} of ${needed} clean hours in a row; the streak stops at ${broke}` }
  }

  /** Stops the timer after a last flush. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.tick()
    this.#conditions.close()
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), FLUSH_MS)
    this.#timer.unref()
  }
}

/** Why an hour is not clean, or undefined when it is. */
function uncleanHour(policy: Policy, hour: { at: number, fields: Fields }): string | undefined {
  const slices = slicesOf(hour.fields)
  if (slices.every(s => s.samples === 0)) return 'no comparisons'
  const critical = slices.filter(s => s.results.critical > 0)
  if (critical.length > 0) return critical.map(s => `${s.results.critical} critical on ${s.resourceType} (rule ${s.rule})`).join(', ')
  // Each rule's gate, on this hour's counts alone.
  const asWindow: Bucket[] = [{ at: hour.at, fields: hour.fields }]
  for (const rule of policy.rules) {
    const failing = judgeRule(policy, rule, asWindow, hour.at).filter(v => v.readiness === 'not-ready')
    if (failing.length > 0) return failing.map(v => `${v.resourceType} (rule ${v.rule}): ${v.reason}`).join(', ')
  }
  return undefined
}
