// Bench probe, preloaded (`--import`) into every Node process the bench measures: it keeps the
// process's event-loop delay and GC pauses, and answers the parent's IPC messages with them and
// the CPU time and RSS since the last reset. The parent resets before a round and samples after
// it, so each figure covers exactly one round. Costs the process one 10 ms timer and one
// observer callback per GC: the same for every target.
import { getHeapSpaceStatistics } from 'node:v8'
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks'

/** What the parent sends. */
export type ProbeRequest = { probe: 'reset' } | { probe: 'sample' }

/** What one round cost the process. */
export interface ProbeSample {
  probe: 'sample'
  /** User + system CPU time since the last reset, µs. */
  cpuUs: number
  /** Resident set size now, bytes. */
  rss: number
  /** Highest resident set size since the process started, bytes. */
  maxRss: number
  /** V8's heap now: used and reserved, bytes (RSS minus these is code, buffers and the allocator's slack). */
  heapUsed: number
  heapTotal: number
  /** Memory held outside V8's heap by Buffers and the like, bytes. */
  external: number
  /** Size of each V8 heap space (new_space, old_space, code_space...), bytes. */
  spaces: Record<string, number>
  /** Event-loop delay since the last reset, ms: how late a timer due every ELD_RESOLUTION_MS fired. */
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  /** GC pauses since the last reset: how many, all of them together and the longest, ms. */
  gcCount: number
  gcTotalMs: number
  gcMaxMs: number
  /** Of which major (mark-sweep-compact) collections. */
  gcMajor: number
}

/** Node's default: finer sampling would add a wake-up per ms to the CPU figures. */
const ELD_RESOLUTION_MS = 10

function memory(): Pick<ProbeSample, 'rss' | 'heapUsed' | 'heapTotal' | 'external'> {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }
}

/** The histogram holds the time between the timer's runs (ns): the resolution itself plus the lateness. */
const lateness = (ns: number) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS)

if (process.send) {
  const delay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })
  delay.enable()
  let gc = { count: 0, totalMs: 0, maxMs: 0, major: 0 }
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      gc.count++
      gc.totalMs += entry.duration
      gc.maxMs = Math.max(gc.maxMs, entry.duration)
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++
    }
  }).observe({ entryTypes: ['gc'] })
  let cpu = process.cpuUsage()
  process.on('message', (m: ProbeRequest) => {
    if (m?.probe === 'reset') {
      delay.reset()
      gc = { count: 0, totalMs: 0, maxMs: 0, major: 0 }
      cpu = process.cpuUsage()
      process.send!({ probe: 'reset' })
    } else if (m?.probe === 'sample') {
      const used = process.cpuUsage(cpu)
      const sample: ProbeSample = {
        probe: 'sample',
        cpuUs: used.user + used.system,
        ...memory(),
        spaces: Object.fromEntries(getHeapSpaceStatistics().map(s => [s.space_name, s.space_size])),
        maxRss: process.resourceUsage().maxRSS * 1024,
        loopDelayP50Ms: lateness(delay.percentile(50)),
        loopDelayP99Ms: lateness(delay.percentile(99)),
        loopDelayMaxMs: lateness(delay.max),
        gcCount: gc.count,
        gcTotalMs: gc.totalMs,
        gcMaxMs: gc.maxMs,
        gcMajor: gc.major,
      }
      process.send!(sample)
    }
  })
  // The channel must not keep a process alive that would otherwise exit.
  process.channel?.unref()
}
