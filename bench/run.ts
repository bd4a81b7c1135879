// `npm run bench`: dualread measured side by side with a direct call and a bare http-proxy-3
// pass-through, in one run on this machine, against the same upstream. Each target runs in its
// own process; rounds alternate between targets so a noisy moment is shared rather than pinned
// on one of them. Prints a table per section and the SPEC targets (informational: exit 0 unless
// something crashed or a request failed). Each section is one function; add more to SECTIONS.
import { cpus, loadavg } from 'node:os'
import { OpenLoop, saturate, summarize, type Measurement, type Summary } from './load.ts'
import { ChildProcesses, type Started } from './processes.ts'
import { cpuOf, type CpuUsed } from './cpu.ts'
import { measureCompareCost } from './compare-cost.ts'
import { measureBackfill, measurePropagation } from './sync-bench.ts'
import { measureCutoverHold } from './cutover-bench.ts'
import { measureEvidenceCost } from './evidence-cost.ts'
import type { SinkStats } from './otlp-sink.ts'

const READ_PATH = '/api/v1/tenants/acme/alert-rules/r1'
const CONNECTIONS = 32
const ROUNDS = 3
const ROUND_SEC = 4
const WARMUP_SEC = 3
const FIXED_RATE = 1000
/** The shadow section with large documents: their size, and a rate the proxy can serve with shadow off. */
const LARGE_BODY_BYTES = 64 * 1024
const LARGE_BODY_RATE = 200

const MIN_THROUGHPUT_RATIO = 1.5
const MAX_ADDED_P99_MS = 1
const MAX_SHADOW_P99_RATIO = 1.2
const MAX_EQUAL_10KB_RATIO = 1.3
const MAX_DIFFERING_10KB_US = 200
const COMPARE_SIZES_KB = [1, 10, 100]
const MIN_BACKFILL_PER_SEC = 5000
const PROPAGATION_RATE = 100
const PROPAGATION_SECONDS = 10
const MAX_PROPAGATION_P99_MS = 500
const CUTOVER_RATE = 100
const CUTOVER_SECONDS = 10
const MAX_HOLD_P99_MS = 1000
const MAX_HOLD_LAG_MS = 200
const MAX_TRACING_COST = 0.1

/** Everything a section may load; a section needing another setup starts it through `children`. */
interface Bench {
  children: ChildProcesses
  direct: Started
  /** The second upstream (dualread's new side). */
  newUpstream: Started
  bareProxy: Started
  /** dualread with shadow reads off. */
  dualread: Started
  /** dualread shadow-reading every read from the second upstream. */
  dualreadShadow: Started
}

interface Check { goal: string, measured: string, met: boolean }

type Section = (bench: Bench) => Promise<Check[]>

const SECTIONS: Section[] = [readThroughput, addedLatencyAtFixedRate, shadowLatencyAtFixedRate, shadowLargeBodies, compareCost, evidenceCost, syncBackfill, syncPropagation, cutoverHold, tracingCost]
/** Shadow pairs per second a replica records in the evidence section (every read shadowed at the fixed rate). */
const EVIDENCE_PAIRS_PER_SEC = FIXED_RATE
/** Recording evidence may take this share of one core at that rate (the issue's "≤ 5% throughput"). */
const MAX_EVIDENCE_CPU_SHARE = 0.05

/** 1. Highest read throughput and its latency, three ways. */
async function readThroughput(b: Bench): Promise<Check[]> {
  const targets = [b.direct, b.bareProxy, b.dualread]
  const s = await inRounds(targets, (t, seconds) => saturate(t.url + READ_PATH, CONNECTIONS, seconds))
  printTable(
    `Read throughput: GET ${READ_PATH} (~1 KB JSON), closed loop, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${ROUND_SEC} s per target`,
    ['target', 'req/s', 'rounds min–max', 'p50 ms', 'p99 ms'],
    targets.map(t => {
      const { rps, rpsRange: [lo, hi], p50, p99 } = s.get(t)!
      return [t.name, count(rps), `${count(lo)}–${count(hi)}`, ms(p50), ms(p99)]
    }),
  )
  const ratio = s.get(b.dualread)!.rps / s.get(b.bareProxy)!.rps
  return [{ goal: `read throughput, dualread / http-proxy-3 ≥ ${MIN_THROUGHPUT_RATIO}×`, measured: `${ratio.toFixed(2)}×`, met: ratio >= MIN_THROUGHPUT_RATIO }]
}

/** 2. What dualread adds to p99 at a steady, moderate load (http-proxy-3 shown for reference). */
async function addedLatencyAtFixedRate(b: Bench): Promise<Check[]> {
  const targets = [b.direct, b.bareProxy, b.dualread]
  const s = await atFixedRate(targets, `Latency at a fixed ${count(FIXED_RATE)} req/s: open loop, ${ROUNDS} rounds × ${ROUND_SEC} s per target`)
  const added = s.get(b.dualread)!.p99 - s.get(b.direct)!.p99
  return [{ goal: `added p99 at ${count(FIXED_RATE)} req/s, dualread − direct ≤ ${MAX_ADDED_P99_MS} ms`, measured: `${ms(added)} ms`, met: added <= MAX_ADDED_P99_MS }]
}

/**
 * 3. What shadow-reading every read costs the client: primary p99 with shadow 100% vs 0%, and CPU
 * per request (steadier than a p99 on a shared machine): the whole process, and its main thread
 * alone (the clients' event loop; comparisons run on worker threads).
 */
async function shadowLatencyAtFixedRate(b: Bench): Promise<Check[]> {
  const targets = [b.dualread, b.dualreadShadow]
  const { cpu, summaries: s } = await cpuAtFixedRate(targets, FIXED_RATE, `Shadow cost at a fixed ${count(FIXED_RATE)} req/s (every shadowed read also goes to the second upstream, whose answer differs in key order: both are parsed and compared)`)
  const ratio = s.get(b.dualreadShadow)!.p99 / s.get(b.dualread)!.p99
  const mainRatio = cpu.get(b.dualreadShadow)!.main / cpu.get(b.dualread)!.main
  return [
    { goal: `primary p99, shadow 100% / shadow 0% ≤ ${MAX_SHADOW_P99_RATIO}×`, measured: `${ratio.toFixed(2)}×`, met: ratio <= MAX_SHADOW_P99_RATIO },
    { goal: '(for scale) main-thread CPU per request, shadow 100% / shadow 0%', measured: `${mainRatio.toFixed(2)}×`, met: true },
  ]
}

/**
 * 3b. The same with 64 KB documents (their pairs go to the comparison workers; a 1 KB pair is
 * compared on the event loop, where it costs less than the hand-off): CPU per request again.
 */
async function shadowLargeBodies(b: Bench): Promise<Check[]> {
  const oldUp = await b.children.upstream('64 KB upstream (old)', { bytes: LARGE_BODY_BYTES })
  const newUp = await b.children.upstream('64 KB upstream (new)', { bytes: LARGE_BODY_BYTES, reordered: true })
  const off = await b.children.dualread('dualread 64 KB', { oldUrl: oldUp.url, newUrl: newUp.url, shadowPercent: 0 })
  const on = await b.children.dualread('dualread 64 KB shadow 100%', { oldUrl: oldUp.url, newUrl: newUp.url, shadowPercent: 100 })
  const { cpu, summaries } = await cpuAtFixedRate([off, on], LARGE_BODY_RATE, `Shadow cost with ${LARGE_BODY_BYTES / 1024} KB documents at a fixed ${count(LARGE_BODY_RATE)} req/s (pairs differ in key order: parsed and compared)`)
  const ratio = summaries.get(on)!.p99 / summaries.get(off)!.p99
  return [
    { goal: `(for scale) ${LARGE_BODY_BYTES / 1024} KB documents: primary p99, shadow 100% / shadow 0%`, measured: `${ratio.toFixed(2)}×`, met: true },
    { goal: `(for scale) ${LARGE_BODY_BYTES / 1024} KB documents: main-thread CPU per request, shadow 100% / 0%`, measured: `${(cpu.get(on)!.main / cpu.get(off)!.main).toFixed(2)}×`, met: true },
  ]
}

/** Open-loop rounds with each target's CPU per request (all threads, and the main thread) printed after the latencies. */
async function cpuAtFixedRate(targets: Started[], rate: number, title: string): Promise<{ cpu: Map<Started, CpuUsed>, summaries: Map<Started, Summary> }> {
  const used = new Map(targets.map(t => [t, { process: 0, main: 0, requests: 0 }]))
  const summaries = await atFixedRate(targets, title, (t, m, cpu) => {
    const u = used.get(t)!
    u.process += cpu.process
    u.main += cpu.main
    u.requests += m.latenciesMs.length
  }, rate)
  const perRequest = new Map(targets.map(t => {
    const u = used.get(t)!
    return [t, { process: u.process / u.requests, main: u.main / u.requests }]
  }))
  printTable('CPU per request at that rate (from /proc: all threads, and the main thread alone)', ['target', 'process µs/req', 'main thread µs/req'],
    targets.map(t => [t.name, perRequest.get(t)!.process.toFixed(0), perRequest.get(t)!.main.toFixed(0)]))
  return { cpu: perRequest, summaries }
}

/** 4. The comparison itself, as a worker runs it: parse, prepare, canonicalize, and diff when different; against two JSON.parse calls. */
async function compareCost(): Promise<Check[]> {
  const costs = measureCompareCost(COMPARE_SIZES_KB)
  printTable(
    'Compare cost per document pair (alert rules; equal = same content, other key and list order), and over the floor: two JSON.parse calls of the same bytes',
    ['size', 'two parses µs', 'equal µs', 'equal / floor', 'differing µs', 'differing / floor', 'differing is'],
    costs.map(c => [`${c.kb} KB`, c.floorUs.toFixed(1), c.equalUs.toFixed(1), `${c.equalRatio.toFixed(2)}×`, c.differingUs.toFixed(1), `${c.differingRatio.toFixed(2)}×`, c.differingResult]),
  )
  const ten = costs.find(c => c.kb === 10)!
  return [
    { goal: `equal 10 KB documents compared ≤ ${MAX_EQUAL_10KB_RATIO}× two JSON.parse`, measured: `${ten.equalRatio.toFixed(2)}× (${ten.equalUs.toFixed(1)} µs)`, met: ten.equalRatio <= MAX_EQUAL_10KB_RATIO },
    { goal: `differing 10 KB documents explained ≤ ${MAX_DIFFERING_10KB_US} µs`, measured: `${ten.differingUs.toFixed(1)} µs`, met: ten.differingUs <= MAX_DIFFERING_10KB_US },
  ]
}

/** 4b. Recording the fleet's evidence: per shadow pair in memory, and once a second into Redis. */
async function evidenceCost(): Promise<Check[]> {
  const c = await measureEvidenceCost(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', EVIDENCE_PAIRS_PER_SEC)
  printTable(`Recording the fleet's evidence (10 slices, ${count(c.pairsPerTick)} shadow pairs per second, state in Redis)`,
    ['per pair µs', 'per tick p50 ms', 'per tick max ms'], [[(c.observeNs / 1000).toFixed(2), ms(c.tickP50Ms), ms(c.tickMaxMs)]])
  // A tick's time is mostly waiting on Redis, not CPU; counted whole, it is an upper bound.
  const share = (c.observeNs / 1e9) * c.pairsPerTick + c.tickP50Ms / 1000
  return [{ goal: `evidence at ${count(c.pairsPerTick)} pairs/s ≤ ${100 * MAX_EVIDENCE_CPU_SHARE}% of a core`, measured: `${(100 * share).toFixed(2)}%`, met: share <= MAX_EVIDENCE_CPU_SHARE }]
}

/** 5. Backfill: `dualread sync --once` from a seeded reference API into an empty one (state in Redis). */
async function syncBackfill(b: Bench): Promise<Check[]> {
  const r = await measureBackfill(b.children)
  printTable('Sync backfill from the reference API (concurrency 8, pages of 500, state in Redis)', ['objects', 'seconds', 'objects/s', 'converged'],
    [[count(r.objects), r.seconds.toFixed(2), count(r.rate), String(r.converged)]])
  return [{ goal: `backfill ≥ ${count(MIN_BACKFILL_PER_SEC)} objects/s`, measured: `${count(r.rate)}/s`, met: r.rate >= MIN_BACKFILL_PER_SEC }]
}

/** 6. A write through the proxy reaching the other store, at a fixed write rate. */
async function syncPropagation(b: Bench): Promise<Check[]> {
  const r = await measurePropagation(b.children, PROPAGATION_RATE, PROPAGATION_SECONDS)
  printTable(`Write propagation through proxy and sync at ${PROPAGATION_RATE} writes/s for ${PROPAGATION_SECONDS} s (answer → sync acknowledgement)`,
    ['writes', 'p50 ms', 'p99 ms', 'not acknowledged'], [[count(r.writes), ms(r.p50), ms(r.p99), String(r.lost)]])
  return [{ goal: `propagation p99 at ${PROPAGATION_RATE} writes/s ≤ ${MAX_PROPAGATION_P99_MS} ms`, measured: `${ms(r.p99)} ms`, met: r.p99 <= MAX_PROPAGATION_P99_MS && r.lost === 0 }]
}

/** 7. The write hold: extra latency of writes that arrived while a cutover moved the authority. */
async function cutoverHold(b: Bench): Promise<Check[]> {
  const r = await measureCutoverHold(b.children, CUTOVER_RATE, CUTOVER_SECONDS)
  printTable(`Write cutover old → new at ${CUTOVER_RATE} writes/s for ${CUTOVER_SECONDS} s (dualread cutover half way; extra = latency − p50 before it)`,
    ['writes', 'failed', 'held', 'p50 before ms', 'extra p50 ms', 'extra p99 ms', 'extra max ms', 'request → switch ms', 'stream lag ms'],
    [[count(r.writes), String(r.failed), String(r.held), ms(r.baselineP50), ms(r.extraP50), ms(r.extraP99), ms(r.extraMax), ms(r.switchMs), ms(r.lagMs)]])
  return [{
    goal: `cutover write hold p99 ≤ ${MAX_HOLD_P99_MS} ms at ${CUTOVER_RATE} writes/s (stream lag under ${MAX_HOLD_LAG_MS} ms)`,
    measured: `${ms(r.extraP99)} ms (lag ${ms(r.lagMs)} ms)`,
    met: r.extraP99 <= MAX_HOLD_P99_MS && r.lagMs < MAX_HOLD_LAG_MS && r.failed === 0,
  }]
}

/**
 * 8. What tracing costs reads: off (no OTEL_* variable, so the SDK is not even loaded) vs on with
 * every read sampled (and, for scale, one in ten), exported over OTLP/HTTP protobuf to a
 * collector stand-in on this machine.
 */
async function tracingCost(b: Bench): Promise<Check[]> {
  const sink = await b.children.otlpSink('otlp sink')
  const upstreams = { oldUrl: b.direct.url, newUrl: b.newUpstream.url, shadowPercent: 0 }
  const traced = await b.children.dualread('dualread traced 100%', upstreams, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' })
  const tenth = await b.children.dualread('dualread traced 10%', upstreams, {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1',
  })
  const targets = [b.dualread, traced, tenth]
  const s = await inRounds(targets, (t, seconds) => saturate(t.url + READ_PATH, CONNECTIONS, seconds))
  const exported = await (await fetch(`${sink.url}/stats`)).json() as SinkStats
  printTable(
    `Tracing cost: GET ${READ_PATH}, closed loop, ${CONNECTIONS} connections, ${ROUNDS} rounds × ${ROUND_SEC} s; a traced read is 2 spans (request, upstream attempt)`,
    ['target', 'req/s', 'rounds min–max', 'p50 ms', 'p99 ms'],
    targets.map(t => {
      const { rps, rpsRange: [lo, hi], p50, p99 } = s.get(t)!
      return [t.name, count(rps), `${count(lo)}–${count(hi)}`, ms(p50), ms(p99)]
    }),
  )
  console.log(`  the collector stand-in took ${count(exported.exports)} exports, ${(exported.bytes / 1e6).toFixed(1)} MB (dropped spans, if any, are in the log summary below)`)
  const cost = (t: Started) => 1 - s.get(t)!.rps / s.get(b.dualread)!.rps
  return [
    { goal: `read throughput cost of tracing at 100% sampling ≤ ${MAX_TRACING_COST * 100}%`, measured: `${(cost(traced) * 100).toFixed(1)}%`, met: cost(traced) <= MAX_TRACING_COST },
    { goal: `(for scale) the same at 10% sampling ≤ ${MAX_TRACING_COST * 100}%`, measured: `${(cost(tenth) * 100).toFixed(1)}%`, met: cost(tenth) <= MAX_TRACING_COST },
  ]
}

/** Open-loop rounds at `rate` (FIXED_RATE by default) against each target, printed as a latency table; `onRound` is told each measured round's CPU (µs) of targets with a pid. */
async function atFixedRate(targets: Started[], title: string, onRound?: (t: Started, m: Measurement, cpu: CpuUsed) => void, rate = FIXED_RATE): Promise<Map<Started, Summary>> {
  const loops = new Map(targets.map(t => [t, new OpenLoop(t.url + READ_PATH)]))
  let s: Map<Started, Summary>
  try {
    s = await inRounds(targets, async (t, seconds) => {
      const before = t.pid === undefined ? undefined : cpuOf(t.pid)
      const m = await loops.get(t)!.run(rate, seconds)
      if (before && seconds === ROUND_SEC) {
        const after = cpuOf(t.pid!)
        onRound?.(t, m, { process: after.process - before.process, main: after.main - before.main })
      }
      return m
    })
  } finally {
    await Promise.all([...loops.values()].map(l => l.close()))
  }
  printTable(title, ['target', 'requests', 'p50 ms', 'p99 ms'], targets.map(t => {
    const { requests, p50, p99 } = s.get(t)!
    return [t.name, count(requests), ms(p50), ms(p99)]
  }))
  return s
}

/**
 * Warms every target up, then runs ROUNDS rounds, each visiting every target in turn.
 * A failed request anywhere makes the figures meaningless, so it stops the bench.
 */
async function inRounds(targets: Started[], run: (target: Started, seconds: number) => Promise<Measurement>): Promise<Map<Started, Summary>> {
  for (const t of targets) await run(t, WARMUP_SEC)
  const rounds = new Map<Started, Measurement[]>(targets.map(t => [t, []]))
  for (let i = 0; i < ROUNDS; i++) {
    for (const t of targets) rounds.get(t)!.push(await run(t, ROUND_SEC))
  }
  const summaries = new Map<Started, Summary>()
  for (const [t, measured] of rounds) {
    const summary = summarize(measured)
    if (summary.failures > 0) throw new Error(`${t.name}: ${summary.failures} failed requests (non-2xx, errors or timeouts); see the child's output above`)
    summaries.set(t, summary)
  }
  return summaries
}

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('   ')
  console.log(`\n${title}\n  ${line(header)}\n${rows.map(r => `  ${line(r)}`).join('\n')}`)
}

function printChecks(checks: Check[]): void {
  console.log('\nTargets (informational)')
  const width = Math.max(...checks.map(c => c.goal.length))
  for (const c of checks) console.log(`  ${c.goal.padEnd(width)}   ${c.measured.padStart(9)}   ${c.met ? 'met' : 'NOT met'}`)
}

function printLogSummary(lines: string[]): void {
  if (lines.length === 0) return
  console.log(`\nLogged by the processes under test (a closed-loop run ends by dropping its in-flight requests)`)
  for (const line of lines) console.log(`  ${line}`)
}

const count = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => n.toFixed(2)

async function main(): Promise<void> {
  const children = new ChildProcesses()
  const onSignal = () => { void children.stopAll().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const oldUpstream = await children.upstream('direct')
    // The same document in another key order: a shadowed read's pair is parsed and compared, as real pairs are.
    const newUpstream = await children.upstream('upstream (new)', { reordered: true })
    const bench: Bench = {
      children,
      direct: oldUpstream,
      newUpstream,
      bareProxy: await children.bareProxy('http-proxy-3', oldUpstream.url),
      dualread: await children.dualread('dualread', { oldUrl: oldUpstream.url, newUrl: newUpstream.url, shadowPercent: 0 }),
      dualreadShadow: await children.dualread('dualread shadow 100%', { oldUrl: oldUpstream.url, newUrl: newUpstream.url, shadowPercent: 100 }),
    }
    const cpu = cpus()
    console.log(`dualread bench: Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, load average ${loadavg()[0]!.toFixed(2)} at start`)
    const checks: Check[] = []
    // BENCH_ONLY=cutoverHold,syncBackfill runs just those sections (by function name).
    const only = process.env['BENCH_ONLY']?.split(',')
    for (const section of SECTIONS.filter(s => !only || only.includes(s.name))) checks.push(...await section(bench))
    printChecks(checks)
    printLogSummary(children.logSummary())
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`)
    process.exitCode = 1
  } finally {
    await children.stopAll()
  }
}

await main()
