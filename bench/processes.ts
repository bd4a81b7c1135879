// The bench's child processes (upstreams, the http-proxy-3 baseline, dualread), each in its own
// process so load generator, proxy and upstream never share an event loop. Everything started
// through one `ChildProcesses` is stopped by its `stopAll()`, which the bench calls in `finally`.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { ChildReady } from './child.ts'

const HOST = '127.0.0.1'
const DUALREAD_BIN = new URL('../bin/dualread.js', import.meta.url).pathname
const START_TIMEOUT_MS = 15_000
const READY_POLL_MS = 100
const STOP_TIMEOUT_MS = 5_000
const STDERR_TAIL_BYTES = 4096
/** Extra node flags for the dualread child only, e.g. BENCH_DUALREAD_NODE_ARGS=--cpu-prof. */
const DUALREAD_NODE_ARGS = process.env['BENCH_DUALREAD_NODE_ARGS']?.split(/\s+/).filter(Boolean) ?? []

export interface DualreadOptions {
  oldUrl: string
  newUrl: string
  shadowPercent: number
}

/** A running child and where it listens. */
export interface Started {
  name: string
  url: string
  /** The process id, for its CPU time (dualread children). */
  pid?: number
}

export class ChildProcesses {
  #children = new Map<ChildProcess, string>()
  #stopping = false
  #tmpDirs: string[] = []
  #logTally = new Map<string, number>()

  /** A stand-in upstream serving a JSON document of ~1 KB or `bytes` (bench/upstream.ts); `reordered`: its keys in another order. */
  upstream(name: string, o: { reordered?: boolean, bytes?: number } = {}): Promise<Started> {
    return this.#fork(name, 'upstream.ts', [...(o.reordered ? ['reordered'] : []), ...(o.bytes ? [`bytes=${o.bytes}`] : [])])
  }

  /** The reference alerting API, seeded with `perType` objects of each type for each tenant. */
  referenceApi(name: string, seed?: { tenants: string[], perType: number }): Promise<Started> {
    return this.#fork(name, 'reference-api.ts', seed ? [JSON.stringify(seed)] : [])
  }

  /** An OTLP/HTTP collector stand-in that takes every export (bench/otlp-sink.ts). */
  otlpSink(name: string): Promise<Started> {
    return this.#fork(name, 'otlp-sink.ts', [])
  }

  /** A bare http-proxy-3 pass-through to `target` (bench/bare-proxy.ts). */
  bareProxy(name: string, target: string): Promise<Started> {
    return this.#fork(name, 'bare-proxy.ts', [target])
  }

  /**
   * `dualread proxy` with a one-rule policy, started as an operator would; resolves once /readyz is
   * 200. `env` adds variables (OTEL_* for tracing); every OTEL_* variable of the bench's own is dropped.
   */
  dualread(name: string, o: DualreadOptions, env: Record<string, string> = {}): Promise<Started> {
    // Without REDIS_URL rollback overrides stay in memory: the bench measures the proxy alone.
    return this.dualreadCommand(name, 'proxy', policyYaml(o), env)
  }

  /** `dualread proxy` or `dualread sync` with the given policy text and environment. */
  async dualreadCommand(name: string, command: 'proxy' | 'sync', policy: string, extraEnv: Record<string, string>): Promise<Started> {
    const dir = await mkdtemp(join(tmpdir(), 'dualread-bench-'))
    this.#tmpDirs.push(dir)
    const policyFile = join(dir, 'policy.yaml')
    await writeFile(policyFile, policy)
    const [listen, admin] = [await freePort(), await freePort()]
    const { REDIS_URL: _redis, ...inherited } = process.env
    const env = Object.fromEntries(Object.entries(inherited).filter(([name]) => !name.startsWith('OTEL_')))
    const ports = command === 'proxy' ? ['--listen', `${HOST}:${listen}`, '--admin', `${HOST}:${admin}`] : ['--admin', `${HOST}:${admin}`]
    const child = spawn(process.execPath, [
      ...DUALREAD_NODE_ARGS, DUALREAD_BIN, command, '--policy', policyFile, ...ports, '--state-dir', join(dir, 'state'),
    ], { cwd: dir, env: { ...env, ...extraEnv, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = this.#watch(name, child)
    await Promise.race([waitForReady(`http://${HOST}:${admin}/readyz`), exited])
    return { name, url: `http://${HOST}:${command === 'proxy' ? listen : admin}`, pid: child.pid! }
  }

  /** Stops every child (SIGTERM, then SIGKILL after a grace period) and removes temporary files. */
  async stopAll(): Promise<void> {
    this.#stopping = true
    await Promise.all([...this.#children.keys()].map(stop))
    this.#children.clear()
    await Promise.all(this.#tmpDirs.map(dir => rm(dir, { recursive: true, force: true })))
  }

  async #fork(name: string, file: string, args: string[]): Promise<Started> {
    const child = fork(new URL(file, import.meta.url).pathname, args, { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    const exited = this.#watch(name, child)
    const [ready] = await Promise.race([once(child, 'message') as Promise<[ChildReady]>, exited])
    return { name, url: `http://${HOST}:${ready.port}` }
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
        if (this.#stopping) return
        const error = new Error(`${name} exited unexpectedly (${signal ?? `code ${code}`})${stderr ? `:\n${stderr.trimEnd()}` : ''}`)
        process.stderr.write(`${error.message}\n`)
        reject(error)
      })
    })
  }
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
