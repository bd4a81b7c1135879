// The bench's child processes (upstreams, the http-proxy-3 baseline, dualread), each in its own
// process so load generator, proxy and upstream never share an event loop. Everything started
// through one `ChildProcesses` is stopped by its `stopAll()`, which the bench calls in `finally`.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:fs'
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { ChildReady } from './child.ts'
import { nginxConfig } from './nginx.ts'
import type { RoundCost } from './load.ts'
import type { ProbeRequest, ProbeSample } from './probe.ts'

const HOST = '127.0.0.1'
const DUALREAD_BIN = new URL('../bin/dualread.js', import.meta.url).pathname
const START_TIMEOUT_MS = 15_000
const READY_POLL_MS = 100
const STOP_TIMEOUT_MS = 5_000
const STDERR_TAIL_BYTES = 4096
/** Extra node flags for the dualread child only, e.g. BENCH_DUALREAD_NODE_ARGS=--cpu-prof. */
const DUALREAD_NODE_ARGS = process.env['BENCH_DUALREAD_NODE_ARGS']?.split(/\s+/).filter(Boolean) ?? []
/** Preloaded into every Node child: event-loop delay, GC pauses, CPU and RSS per round. */
const PROBE = ['--import', new URL('probe.ts', import.meta.url).pathname]
/** Debian's nginx; the nginx section is skipped with a note when it is not installed. */
const NGINX_BIN = process.env['BENCH_NGINX'] ?? '/usr/sbin/nginx'
/** Linux clock ticks per second (USER_HZ), the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS = 100

export interface DualreadOptions {
  oldUrl: string
  newUrl: string
  shadowPercent: number
  /** The policy's `migration` (its keys in Redis); `default` when unset. */
  migration?: string
}

/** What a target's process spent in one round: reset before the round, sample after it. */
export interface Probe {
  reset(): Promise<void>
  sample(): Promise<RoundCost & { maxRss: number }>
}

/** A running child and where it listens. */
export interface Started {
  name: string
  url: string
  probe: Probe
  /** The process id, for its CPU time (dualread children). */
  pid?: number
  /** dualread's admin server (/status, /metrics). */
  adminUrl?: string
}

export interface ChildOptions {
  /** Write a CPU profile (--cpu-prof) into the `profileDir` given to ChildProcesses. */
  profile?: boolean
  /** Run dualread from another checkout (its bin/dualread.js), for a before/after comparison. */
  checkout?: string
  /** Modules to preload (`--import`) after the probe, e.g. bench/evidence-off.ts. */
  imports?: string[]
}

export class ChildProcesses {
  #profileDir: string | undefined
  #children = new Map<ChildProcess, string>()
  #stopping = false
  /** Children stopped on purpose before stopAll. */
  #expected = new Set<ChildProcess>()
  /** The dualread children among them, stopped before the rest. */
  #dualreads = new Set<ChildProcess>()
  #tmpDirs: string[] = []
  #logTally = new Map<string, number>()

  constructor(o: { profileDir?: string } = {}) {
    this.#profileDir = o.profileDir
  }

  /** Node flags of a child: the probe, and a CPU profile when asked for. */
  #nodeArgs(o: ChildOptions): string[] {
    const preloads = [...PROBE, ...(o.imports ?? []).flatMap(file => ['--import', new URL(file, import.meta.url).pathname])]
    if (!o.profile) return preloads
    if (!this.#profileDir) throw new Error('a profiled child needs ChildProcesses({ profileDir })')
    return [...preloads, '--cpu-prof', `--cpu-prof-dir=${this.#profileDir}`]
  }

  /** A stand-in upstream serving a JSON document of ~1 KB or `bytes` (bench/upstream.ts); `reordered`: its keys in another order. */
  upstream(name: string, o: { reordered?: boolean, bytes?: number } = {}): Promise<Started> {
    return this.#fork(name, 'upstream.ts', [...(o.reordered ? ['reordered'] : []), ...(o.bytes ? [`bytes=${o.bytes}`] : [])])
  }

  /** The reference alerting API, seeded with `perType` objects of each type for each tenant. */
  referenceApi(name: string, seed?: { tenants: string[], perType: number }, flavour?: Record<string, unknown>): Promise<Started> {
    return this.#fork(name, 'reference-api.ts', [seed ? JSON.stringify(seed) : '', ...(flavour ? [JSON.stringify(flavour)] : [])])
  }

  /** An OTLP/HTTP collector stand-in that takes every export (bench/otlp-sink.ts). */
  otlpSink(name: string): Promise<Started> {
    return this.#fork(name, 'otlp-sink.ts', [])
  }

  /** A bare http-proxy-3 pass-through to `target` (bench/bare-proxy.ts). */
  bareProxy(name: string, target: string, o: ChildOptions = {}): Promise<Started> {
    return this.#fork(name, 'bare-proxy.ts', [target], o)
  }

  /**
   * nginx in front of `target` (one worker, keep-alive upstream connections; see nginx.ts), with
   * its own config and prefix in a temporary folder; undefined when nginx is not installed.
   */
  async nginx(name: string, target: string): Promise<Started | undefined> {
    if (!await access(NGINX_BIN, constants.X_OK).then(() => true, () => false)) return undefined
    const dir = await mkdtemp(join(tmpdir(), 'dualread-bench-nginx-'))
    this.#tmpDirs.push(dir)
    await mkdir(join(dir, 'tmp'))
    const port = await freePort()
    await writeFile(join(dir, 'nginx.conf'), nginxConfig({ listen: `${HOST}:${port}`, upstream: new URL(target).host }))
    const child = spawn(NGINX_BIN, ['-p', `${dir}/`, '-c', 'nginx.conf', '-e', 'error.log'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = this.#watch(name, child)
    const url = `http://${HOST}:${port}`
    await Promise.race([waitForReady(url + '/'), exited])
    return { name, url, probe: await procProbe(child.pid!) }
  }

  /**
   * `dualread proxy` with a one-rule policy, started as an operator would; resolves once /readyz is
   * 200. `env` adds variables (OTEL_* for tracing, REDIS_URL for state in Redis); every OTEL_*
   * variable and REDIS_URL of the bench's own is dropped.
   */
  dualread(name: string, o: DualreadOptions, env: Record<string, string> = {}, child: ChildOptions = {}): Promise<Started> {
    // Without REDIS_URL rollback overrides stay in memory: the bench measures the proxy alone.
    return this.dualreadCommand(name, 'proxy', policyYaml(o), env, child)
  }

  /** `dualread proxy` or `dualread sync` with the given policy text and environment. */
  async dualreadCommand(name: string, command: 'proxy' | 'sync', policy: string, extraEnv: Record<string, string>, o: ChildOptions = {}): Promise<Started> {
    const dir = await mkdtemp(join(tmpdir(), 'dualread-bench-'))
    this.#tmpDirs.push(dir)
    const policyFile = join(dir, 'policy.yaml')
    await writeFile(policyFile, policy)
    const [listen, admin] = [await freePort(), await freePort()]
    const { REDIS_URL: _redis, ...inherited } = process.env
    const env = Object.fromEntries(Object.entries(inherited).filter(([name]) => !name.startsWith('OTEL_')))
    const ports = command === 'proxy' ? ['--listen', `${HOST}:${listen}`, '--admin', `${HOST}:${admin}`] : ['--admin', `${HOST}:${admin}`]
    const child = spawn(process.execPath, [
      ...DUALREAD_NODE_ARGS, ...this.#nodeArgs(o), o.checkout ? join(o.checkout, 'bin/dualread.js') : DUALREAD_BIN, command, '--policy', policyFile, ...ports, '--state-dir', join(dir, 'state'),
    ], { cwd: dir, env: { ...env, ...extraEnv, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    this.#dualreads.add(child)
    const exited = this.#watch(name, child)
    await Promise.race([waitForReady(`http://${HOST}:${admin}/readyz`), exited])
    return { name, url: `http://${HOST}:${command === 'proxy' ? listen : admin}`, probe: nodeProbe(child), pid: child.pid!, adminUrl: `http://${HOST}:${admin}` }
  }

  /** Stops one dualread child before the others (a section that cleans up what it wrote into Redis). */
  async stop(target: Started): Promise<void> {
    const child = [...this.#children.keys()].find(c => c.pid === target.pid)
    if (!child) return
    this.#expected.add(child)
    await stop(child)
  }

  /** Stops every child (SIGTERM, then SIGKILL after a grace period) and removes temporary files. */
  async stopAll(): Promise<void> {
    this.#stopping = true
    // dualread first: a traced one exports its last spans on SIGTERM, to a collector stand-in
    // that must still be there (else it waits out its 5 s and is killed, its CPU profile unwritten).
    const [dualreads, others] = [[...this.#dualreads], [...this.#children.keys()].filter(c => !this.#dualreads.has(c))]
    await Promise.all(dualreads.map(stop))
    await Promise.all(others.map(stop))
    this.#children.clear()
    this.#dualreads.clear()
    await Promise.all(this.#tmpDirs.map(dir => rm(dir, { recursive: true, force: true })))
  }

  async #fork(name: string, file: string, args: string[], o: ChildOptions = {}): Promise<Started> {
    const child = fork(new URL(file, import.meta.url).pathname, args, { execArgv: this.#nodeArgs(o), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    const exited = this.#watch(name, child)
    const [ready] = await Promise.race([once(child, 'message') as Promise<[ChildReady]>, exited])
    return { name, url: `http://${HOST}:${ready.port}`, probe: nodeProbe(child) }
  }

  /** What the children logged, most frequent first: "dualread: 96 × error \"read failed…\" (reason)". */
  logSummary(): string[] {
    return [...this.#logTally].sort((a, b) => b[1] - a[1]).map(([line, n]) => `${n} × ${line}`)
  }

  /**
   * Tallies the child's JSON log lines (dualread's pino output) instead of printing each one, keeps
   * the tail of its stderr, and returns a promise that rejects if the child exits before `stopAll`.
   */
  #watch(name: string, child: ChildProcess): Promise<never> {
    this.#children.set(child, name)
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', line => {
        const key = `${name}: ${describeLogLine(line)}`
        this.#logTally.set(key, (this.#logTally.get(key) ?? 0) + 1)
      })
    }
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-STDERR_TAIL_BYTES) })
    return new Promise((_, reject) => {
      child.once('exit', (code, signal) => {
        this.#children.delete(child)
        this.#dualreads.delete(child)
        if (this.#stopping || this.#expected.delete(child)) return
        const error = new Error(`${name} exited unexpectedly (${signal ?? `code ${code}`})${stderr ? `:\n${stderr.trimEnd()}` : ''}`)
        process.stderr.write(`${error.message}\n`)
        reject(error)
      })
    })
  }
}

/** Asks bench/probe.ts in the child over IPC. */
function nodeProbe(child: ChildProcess): Probe {
  const ask = <T>(request: ProbeRequest): Promise<T> => new Promise(resolve => {
    const onMessage = (m: { probe?: string }) => {
      if (m?.probe !== request.probe) return
      child.off('message', onMessage)
      resolve(m as T)
    }
    child.on('message', onMessage)
    child.send(request)
  })
  return {
    reset: () => ask<unknown>({ probe: 'reset' }).then(() => undefined),
    sample: () => ask<ProbeSample>({ probe: 'sample' }),
  }
}

/**
 * CPU and RSS of a non-Node process and its children (nginx's master and worker) from /proc:
 * CPU to the clock tick (10 ms, under 1% of a round), no event loop or GC figures.
 */
async function procProbe(pid: number): Promise<Probe> {
  const pids = [pid, ...await childrenOf(pid)]
  const ticks = async () => {
    let sum = 0
    for (const p of pids) {
      // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
      const fields = (await readFile(`/proc/${p}/stat`, 'utf8')).split(') ')[1]!.split(' ')
      sum += Number(fields[11]) + Number(fields[12])
    }
    return sum
  }
  const statusKb = async (field: string) => {
    let sum = 0
    for (const p of pids) sum += Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(await readFile(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0)
    return sum * 1024
  }
  let base = await ticks()
  return {
    reset: async () => { base = await ticks() },
    sample: async () => ({
      cpuUs: ((await ticks()) - base) * (1e6 / CLOCK_TICKS),
      rss: await statusKb('VmRSS'),
      maxRss: await statusKb('VmHWM'),
      loopDelayP99Ms: Number.NaN,
      gcTotalMs: Number.NaN,
      gcMaxMs: Number.NaN,
    }),
  }
}

/** Processes whose parent is `pid` (nginx forks its worker; the kernel's children lists are not always there). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    if (Number(stat.split(') ')[1]?.split(' ')[1]) === pid) out.push(Number(entry))
  }
  return out
}

const PINO_LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** `error "msg" (err.message)` for a pino line; other lines as they are. */
function describeLogLine(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number, msg?: string, err?: { message?: string } }
    if (typeof entry.msg !== 'string') return line
    const reason = entry.err?.message ? ` (${entry.err.message})` : ''
    return `${PINO_LEVELS[entry.level ?? 0] ?? 'log'} "${entry.msg}"${reason}`
  } catch {
    return line
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

function policyYaml(o: DualreadOptions): string {
  return `version: 1
migration: ${o.migration ?? 'default'}
upstreams:
  old: { url: ${o.oldUrl}, timeoutMs: 2000 }
  new: { url: ${o.newUrl}, timeoutMs: 2000 }
authority: old
resources:
  - type: alert-rule
    collection: /api/v1/tenants/:tenant/alert-rules
    item: /api/v1/tenants/:tenant/alert-rules/:id
rules:
  - name: default
    primary: old
    shadowPercent: ${o.shadowPercent}
    fallback: true
`
}

/** A port that was free a moment ago (dualread takes its ports on the command line). */
async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, HOST)
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

async function waitForReady(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    try {
      const res = await fetch(url)
      await res.body?.cancel()
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${START_TIMEOUT_MS} ms`)
    await new Promise(r => setTimeout(r, READY_POLL_MS))
  }
}
