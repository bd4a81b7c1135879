// CPU time of another process, from /proc (Linux): the whole process (every thread, comparison
// workers included) and its main thread alone (the event loop clients wait on). What
// process.cpuUsage() and process.threadCpuUsage() would say inside it, read from outside.
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SEC = 100

export interface CpuUsed {
  /** µs of CPU, user and system, all threads. */
  process: number
  /** µs of CPU of the main thread. */
  main: number
}

export function cpuOf(pid: number): CpuUsed {
  return { process: ticksToUs(readFileSync(`/proc/${pid}/stat`, 'utf8')), main: ticksToUs(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')) }
}

/** utime + stime: fields 14 and 15, counted after the ")" that ends the command name. */
function ticksToUs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / TICKS_PER_SEC)
}

/**
 * µs of CPU by kind of thread: `main`; `V8Worker`, V8's helpers (parallel GC, concurrent marking,
 * the optimizing compiler); `WorkerThread`, Node's worker threads (the trace export worker, the
 * comparison workers); the rest under their own names. A thread that ended is no longer counted.
 */
export function threadCpuOf(pid: number): Map<string, number> {
  const byKind = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const kind = Number(tid) === pid ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
      byKind.set(kind, (byKind.get(kind) ?? 0) + ticksToUs(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')))
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byKind
}
