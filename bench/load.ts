// The two load shapes the bench uses. Closed loop (autocannon): N connections, each sending its
// next request when the last answer arrives, which finds the highest throughput. Open loop
// (undici): requests leave at a fixed rate whatever the answers do, which measures latency at a
// given load. Latencies are kept as exact floats: autocannon's own histogram rounds to whole ms.
import autocannon from 'autocannon'
import { Pool } from 'undici'

/** Keep-alive connections of the open-loop client; far more than 1,000 req/s of sub-ms reads need. */
const OPEN_LOOP_CONNECTIONS = 16
/** The open-loop scheduler wakes at most this often and sends whatever has come due. */
const OPEN_LOOP_TICK_MS = 1

/** One timed run against one target. */
export interface Measurement {
  seconds: number
  /** Successful (2xx) answers, one latency each, in ms. */
  latenciesMs: number[]
  /** Non-2xx answers, connection errors and timeouts. */
  failures: number
}

/** Closed loop for `seconds`, with `connections` keep-alive connections. */
export async function saturate(url: string, connections: number, seconds: number): Promise<Measurement> {
  const latenciesMs: number[] = []
  const result = await autocannon({
    url, connections, duration: seconds, pipelining: 1,
    setupClient: client => client.on('response', (status, _bytes, ms) => { if (status < 300) latenciesMs.push(ms) }),
  })
  return { seconds: result.duration, latenciesMs, failures: result.errors + result.non2xx }
}

/** Requests leave evenly spaced at `rate` per second; latency is from dispatch to the last body byte. */
export class OpenLoop {
  #pool: Pool
  #path: string

  constructor(url: string) {
    const u = new URL(url)
    this.#pool = new Pool(u.origin, { connections: OPEN_LOOP_CONNECTIONS })
    this.#path = u.pathname + u.search
  }

  async run(rate: number, seconds: number): Promise<Measurement> {
    const m: Measurement = { seconds, latenciesMs: [], failures: 0 }
    const total = Math.round(rate * seconds)
    const intervalMs = 1000 / rate
    const pending: Promise<void>[] = []
    const start = performance.now()
    await new Promise<void>(resolve => {
      const tick = () => {
        const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1)
        while (pending.length < due) pending.push(this.#one(m))
        if (pending.length < total) setTimeout(tick, OPEN_LOOP_TICK_MS)
        else resolve()
      }
      tick()
    })
    await Promise.all(pending)
    return m
  }

  async #one(m: Measurement): Promise<void> {
    const started = performance.now()
    try {
      const res = await this.#pool.request({ path: this.#path, method: 'GET' })
      await res.body.arrayBuffer()
      if (res.statusCode < 300) m.latenciesMs.push(performance.now() - started)
      else m.failures++
    } catch {
      m.failures++
    }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}

/** One figure over the rounds: the median of the per-round values, and their lowest and highest. */
export interface Spread {
  median: number
  min: number
  max: number
  /** The per-round values in round order (round i of every target ran in the same pass). */
  values: number[]
}

/** What a process reported about one round (bench/probe.ts), NaN where a target cannot say (nginx has no event loop of Node's). */
export interface RoundCost {
  cpuUs: number
  rss: number
  loopDelayP99Ms: number
  gcTotalMs: number
  gcMaxMs: number
}

export interface Summary {
  /** Successful requests per second. */
  rps: Spread
  p50: Spread
  p99: Spread
  /** CPU time of the target's process per request, µs (NaN without a probe). */
  cpuUsPerRequest: Spread
  /** Event-loop delay p99 within each round, ms. */
  loopDelayP99Ms: Spread
  /** GC pause time per second of the round, ms. */
  gcMsPerSec: Spread
  /** Longest single GC pause of each round, ms. */
  gcMaxMs: Spread
  /** RSS at the end of each round, bytes. */
  rss: Spread
  requests: number
  failures: number
  rounds: number
}

/**
 * Per-round figures of one target, each summarized by its median over the rounds and its range:
 * a noisy moment on a shared machine moves one round, not the median.
 */
export function summarize(rounds: Array<Measurement & { cost?: RoundCost }>): Summary {
  const per = (f: (r: Measurement & { cost?: RoundCost }, sorted: Float64Array) => number) => spread(rounds.map(r => f(r, Float64Array.from(r.latenciesMs).sort())))
  const answered = (r: Measurement) => r.latenciesMs.length + r.failures
  return {
    rps: per(r => r.latenciesMs.length / r.seconds),
    p50: per((_, sorted) => percentile(sorted, 50)),
    p99: per((_, sorted) => percentile(sorted, 99)),
    cpuUsPerRequest: per(r => r.cost ? r.cost.cpuUs / Math.max(1, answered(r)) : Number.NaN),
    loopDelayP99Ms: per(r => r.cost?.loopDelayP99Ms ?? Number.NaN),
    gcMsPerSec: per(r => r.cost ? r.cost.gcTotalMs / r.seconds : Number.NaN),
    gcMaxMs: per(r => r.cost?.gcMaxMs ?? Number.NaN),
    rss: per(r => r.cost?.rss ?? Number.NaN),
    requests: rounds.reduce((s, r) => s + r.latenciesMs.length, 0),
    failures: rounds.reduce((s, r) => s + r.failures, 0),
    rounds: rounds.length,
  }
}

/** Median (the mean of the middle two for an even count), lowest and highest; NaN when any value is. */
export function spread(values: number[]): Spread {
  if (values.length === 0 || values.some(Number.isNaN)) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, values }
  const v = [...values].sort((a, b) => a - b)
  const mid = v.length >> 1
  return { median: v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2, min: v[0]!, max: v[v.length - 1]!, values }
}

/** `a` against `b` round by round (a / b, or a − b), summarized like any per-round figure. */
export function perRound(a: Spread, b: Spread, op: (x: number, y: number) => number): Spread {
  return spread(a.values.map((x, i) => op(x, b.values[i]!)))
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
