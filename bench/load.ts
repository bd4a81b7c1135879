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

export interface Summary {
  /** Successful requests per second over all rounds. */
  rps: number
  /** Lowest and highest single-round rate, to show how noisy the machine was. */
  rpsRange: [number, number]
  p50: number
  p99: number
  requests: number
  failures: number
}

/** Pools the rounds of one target. */
export function summarize(rounds: Measurement[]): Summary {
  const latencies = Float64Array.from(rounds.flatMap(r => r.latenciesMs)).sort()
  const seconds = rounds.reduce((s, r) => s + r.seconds, 0)
  const perRound = rounds.map(r => r.latenciesMs.length / r.seconds)
  return {
    rps: latencies.length / seconds,
    rpsRange: [Math.min(...perRound), Math.max(...perRound)],
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests: latencies.length,
    failures: rounds.reduce((s, r) => s + r.failures, 0),
  }
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
