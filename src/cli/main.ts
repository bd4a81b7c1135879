// The `dualread` command line.
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { Command, InvalidArgumentError, Option, type CommanderError } from 'commander'
import { compilePolicy } from '../policy/compile.ts'
import { explainRequest } from './explain.ts'
import { parsePolicy } from '../policy/parse.ts'
import { formatProblem } from '../policy/problems.ts'
import { describePolicy } from './policy-summary.ts'
import { renderDangling } from '../sync/dangling.ts'
import { PolicyLoadError } from '../policy/source.ts'
import { DEFAULT_STATE_DIR, startProxySidecar } from '../sidecar/proxy-sidecar.ts'
import { DEFAULT_SYNC_ADMIN, startSyncProcess, syncOnce } from '../sidecar/sync-process.ts'
import { AdminConfigError, DEFAULT_HISTORY_LIMIT } from '../admin/server.ts'
import { createLogger } from '../telemetry/logger.ts'
import { startTracing, type Tracing } from '../telemetry/tracing.ts'
import { renderParity } from './parity-table.ts'
import { renderHistory } from './history-table.ts'
import { buildReport, renderReportMarkdown } from './report.ts'
import { AdminAnswerError, readEvidenceHistory, readHistory, readStatus } from '../status/read.ts'
import type { ProxyStatus, StatusDocumentOut } from '../status/schema.ts'
import { startDemo } from '../demo/demo.ts'
import type { CutoverReport } from '../cutover/request.ts'
import type { Side } from '../policy/schema.ts'

type Out = { out: (s: string) => void, err: (s: string) => void }

export function buildProgram(io: Out = { out: s => process.stdout.write(s), err: s => process.stderr.write(s) }): Command {
  const program = new Command('dualread')
    .description('dual-read proxy sidecar for migrating an alerting control plane between stores')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()

  program.command('proxy')
    .description('run the read proxy sidecar')
    .addOption(new Option('--policy <file>', 'policy file').env('DUALREAD_POLICY').makeOptionMandatory())
    .option('--listen <host:port>', 'proxy address (default: the policy\'s listen)')
    .option('--admin <host:port>', 'admin address (default: the policy\'s admin)')
    .addOption(new Option('--state-dir <dir>', 'where the last good policy is kept').env('DUALREAD_STATE_DIR').default(DEFAULT_STATE_DIR))
    .action(async (opts: { policy: string, listen?: string, admin?: string, stateDir: string }) => {
      const log = createLogger()
      const tracing = await startTracing(log)
      try {
        const sidecar = await startProxySidecar({
          policyFile: opts.policy, listen: opts.listen, admin: opts.admin, stateDir: opts.stateDir,
          adminToken: process.env['DUALREAD_ADMIN_TOKEN'] || undefined, log,
        })
        stopOnSignals(thenFlush(() => sidecar.stop(), tracing))
      } catch (err) {
        await tracing.shutdown()
        if (err instanceof PolicyLoadError) {
          io.err(`${err.message}\n${err.problems.map(formatProblem).join('\n')}\n`)
        } else if (err instanceof AdminConfigError) {
          io.err(`${err.message}\n`)
        } else {
          io.err(`dualread proxy failed to start: ${(err as Error).message}\n`)
        }
        process.exitCode = 1
      }
    })

  program.command('demo')
    .description('a whole migration on this machine: two reference APIs, the proxy, the sync loop and traffic, with a narrated cutover')
    .option('--listen <host:port>', 'proxy address', '127.0.0.1:8080')
    .option('--admin <host:port>', 'proxy admin address', '127.0.0.1:9090')
    .option('--sync-admin <host:port>', 'sync admin address', DEFAULT_SYNC_ADMIN)
    .option('--old-port <port>', 'old reference API port', '8081')
    .option('--new-port <port>', 'new reference API port', '8082')
    .option('--state-dir <dir>', 'where the demo keeps its policy copy, state and log', join(DEFAULT_STATE_DIR, 'demo'))
    .option('--duration <seconds>', 'stop by itself after this long (default: run until Ctrl-C)')
    .option('--redis <url>', 'keep the sync state and rollbacks in this Redis instead of a local file (e.g. redis://127.0.0.1:6379)')
    .action(async (opts: { listen: string, admin: string, syncAdmin: string, oldPort: string, newPort: string, stateDir: string, duration?: string, redis?: string }) => {
      await mkdir(opts.stateDir, { recursive: true })
      const log = createLogger({ destination: pino.destination({ dest: join(opts.stateDir, 'dualread.log'), sync: false }) })
      const tracing = await startTracing(log)
      try {
        const demo = await startDemo({
          listen: opts.listen, admin: opts.admin, syncAdmin: opts.syncAdmin, oldPort: Number(opts.oldPort), newPort: Number(opts.newPort),
          stateDir: opts.stateDir, log, say: line => io.out(`${line}\n`), redisUrl: opts.redis,
        })
        io.out(`  logs: ${join(opts.stateDir, 'dualread.log')} · Ctrl-C stops everything\n`)
        const stop = thenFlush(() => demo.stop(), tracing)
        stopOnSignals(stop)
        if (opts.duration) {
          await Promise.all([demo.finished, new Promise(r => setTimeout(r, Number(opts.duration) * 1000))])
          await stop()
          io.out('demo stopped\n')
        }
      } catch (err) {
        await tracing.shutdown()
        io.err(`dualread demo failed to start: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })

  program.command('sync')
    .description('the sync loop: keeps the other store equal to the authority (backfill, change stream, periodic full scan)')
    .addOption(new Option('--policy <file>', 'policy file').env('DUALREAD_POLICY').makeOptionMandatory())
    .option('--once', 'one full reconcile pass; prints a summary; exit 0 when converged, 1 when not')
    .option('--admin <host:port>', 'admin address for /metrics and /status', DEFAULT_SYNC_ADMIN)
    .addOption(new Option('--state-dir <dir>', 'where the last good policy is kept').env('DUALREAD_STATE_DIR').default(DEFAULT_STATE_DIR))
    .action(async (opts: { policy: string, once?: boolean, admin: string, stateDir: string }) => {
      const log = createLogger()
      const tracing = await startTracing(log)
      const base = { policyFile: opts.policy, stateDir: opts.stateDir, log, bars: progressBarStream(process.stderr, process.env) }
      try {
        if (opts.once) {
          const r = await syncOnce(base).finally(() => tracing.shutdown())
          const notConverged = [`${r.differences} key(s) still differ`, ...r.dangling.count > 0 ? [`${r.dangling.count} dangling reference(s)`] : []].join(', ')
          io.out(`sync pass: scanned ${r.scanned}, upserted ${r.upserted}, deleted ${r.deleted}, unchanged ${r.unchanged}, skipped ${r.skipped}, conflicts ${r.conflicts}, errors ${r.errors}; ${r.converged ? 'converged' : `NOT converged: ${notConverged}`}\n`)
          if (r.dangling.count > 0) io.out(renderDangling(r.dangling))
          process.exitCode = r.converged ? 0 : 1
          return
        }
        const sync = await startSyncProcess({ ...base, admin: opts.admin, adminToken: process.env['DUALREAD_ADMIN_TOKEN'] || undefined })
        stopOnSignals(thenFlush(() => sync.stop(), tracing))
      } catch (err) {
        await tracing.shutdown()
        io.err(err instanceof PolicyLoadError ? `${err.message}\n${err.problems.map(formatProblem).join('\n')}\n` : `dualread sync failed: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })

  const policy = program.command('policy').description('check and explain policy files')
  policy.command('check')
    .description('validate a policy file; exit 1 on error')
    .argument('<file>')
    .action(async (file: string) => {
      const result = await parseFile(file)
      for (const w of result.warnings) io.err(`${formatProblem(w)}\n`)
      if (!result.ok) {
        for (const e of result.errors) io.err(`${formatProblem(e)}\n`)
        io.err(`${file}: ${result.errors.length} error(s); the policy would be rejected\n`)
        process.exitCode = 1
        return
      }
      const p = result.policy
      io.out(`${file}: ok (hash ${result.hash}; ${p.resources.length} resource type(s), ${p.rules.length} rule(s), authority ${p.authority})\n`)
      io.out(describePolicy(p))
    })
  policy.command('explain')
    .description('show which rule matches a request, which backend serves it, and why')
    .argument('<file>')
    .option('--method <method>', 'HTTP method', 'GET')
    .requiredOption('--path <path>', 'request path, for example /api/v1/tenants/acme/alert-rules')
    .option('-H, --header <name: value>', 'request header (repeatable)', collectHeader, {})
    .action(async (file: string, opts: { method: string, path: string, header: Record<string, string> }) => {
      const result = await parseFile(file)
      if (!result.ok) {
        for (const e of result.errors) io.err(`${formatProblem(e)}\n`)
        process.exitCode = 1
        return
      }
      const lines = explainRequest(compilePolicy(result.policy, result.hash), { method: opts.method, path: opts.path, headers: opts.header })
      io.out(`${lines.join('\n')}\n`)
    })

  program.command('parity')
    .description('the parity report of a running sidecar: comparisons, drift by class and pointer, readiness to promote')
    .option('--admin <url>', 'admin URL of a running sidecar', 'http://127.0.0.1:9090')
    .action(async (opts: { admin: string }) => {
      await reporting(io, opts.admin, async () => {
        const status = proxyOnly(await readStatus(opts.admin, authHeader()), opts.admin, 'parity')
        io.out(renderParity(status))
      })
    })

  program.command('report')
    .description('the migration\'s evidence for sign-off: rules, slices and their gate signals across the fleet and over time, gate trips, sync and its last verification, the decommission bar, the history')
    .option('--admin <url>', 'admin URL of a running proxy', 'http://127.0.0.1:9090')
    .option('--format <format>', 'md or json', 'md')
    .addOption(new Option('--step <step>', 'the signals over time per hour or per day').choices(['hour', 'day']).default('hour'))
    .action(async (opts: { admin: string, format: string, step: 'hour' | 'day' }) => {
      if (opts.format !== 'md' && opts.format !== 'json') {
        io.err(`--format ${opts.format}: expected md or json\n`)
        process.exitCode = 2
        return
      }
      await reporting(io, opts.admin, async () => {
        const status = proxyOnly(await readStatus(opts.admin, authHeader()), opts.admin, 'report')
        // Without the record or the hourly evidence the report still stands; it says what could not be read.
        const [history, series] = await Promise.all([
          readHistory(opts.admin, String(REPORT_HISTORY_LIMIT), authHeader()).catch((err: Error) => err),
          readEvidenceHistory(opts.admin, opts.step, authHeader()).catch((err: Error) => err),
        ])
        const report = buildReport(status, history instanceof Error ? [] : history.entries, series instanceof Error ? series.message : series, new Date())
        io.out(opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderReportMarkdown(report))
        if (history instanceof Error) io.err(`the history could not be read (${history.message}); the report has none\n`)
        if (series instanceof Error) io.err(`the signals over time could not be read (${series.message}); the report has none\n`)
      })
    })

  program.command('history')
    .description('the migration\'s record: policy generations, rollbacks, gate trips and cutover steps, newest first')
    .option('--admin <url>', 'admin URL of a running proxy or sync', 'http://127.0.0.1:9090')
    .option('--limit <n>', 'how many entries', String(DEFAULT_HISTORY_LIMIT))
    .option('--json', 'the entries as JSON, newest first')
    .action(async (opts: { admin: string, limit: string, json?: boolean }) => {
      await reporting(io, opts.admin, async () => {
        const report = await readHistory(opts.admin, opts.limit, authHeader())
        io.out(opts.json ? `${JSON.stringify(report.entries, null, 2)}\n` : renderHistory(report))
      })
    })

  program.command('rollback')
    .description('emergency override: reads of a rule (or all) go to the authority until cleared; shared by all replicas through Redis')
    .requiredOption('--admin <url>', 'admin URL of a running sidecar, for example http://127.0.0.1:9090')
    .option('--rule <name>', 'roll back one rule')
    .option('--all', 'roll back every rule')
    .option('--clear', 'clear every override')
    .option('--reason <text>', 'why, shown in /status and the log', 'operator (cli)')
    .action(async (opts: { admin: string, rule?: string, all?: boolean, clear?: boolean, reason: string }) => {
      const chosen = [opts.rule !== undefined, opts.all, opts.clear].filter(Boolean).length
      if (chosen !== 1) {
        io.err('give exactly one of --rule NAME, --all or --clear\n')
        process.exitCode = 1
        return
      }
      const body = opts.rule !== undefined ? { rule: opts.rule, reason: opts.reason } : opts.all ? { all: true, reason: opts.reason } : { clear: true, reason: opts.reason }
      try {
        const res = await fetch(new URL('/rollback', opts.admin), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authHeader() },
          body: JSON.stringify(body),
        })
        const answer = await res.json() as { detail: string, overrides: { entries: Record<string, unknown> } }
        if (!res.ok) {
          io.err(`rollback refused (${res.status}): ${answer.detail}\n`)
          process.exitCode = 1
          return
        }
        const names = Object.keys(answer.overrides.entries)
        io.out(`ok; overrides in force: ${names.length === 0 ? 'none' : names.map(n => n === '*' ? 'all rules' : n).join(', ')}\n`)
      } catch (err) {
        io.err(`cannot reach the admin server at ${opts.admin}: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })

  program.command('cutover')
    .description('moves the write authority of the whole fleet (hold, drain, switch) and waits for the outcome; a cutover the other way aborts one under way')
    .requiredOption('--admin <url>', 'admin URL of a running proxy or sync, for example http://127.0.0.1:9090')
    .addOption(new Option('--to <side>', 'the authority to move writes to').choices(['old', 'new']).makeOptionMandatory())
    .option('--wait <seconds>', 'how long to wait for the outcome', '60')
    .action(async (opts: { admin: string, to: Side, wait: string }) => {
      try {
        const outcome = await runCutover(opts.admin, opts.to, Number(opts.wait) * 1000)
        if (outcome.ok) io.out(`${outcome.message}\n`)
        else {
          io.err(`${outcome.message}\n`)
          process.exitCode = 1
        }
      } catch (err) {
        io.err(`cannot reach the admin server at ${opts.admin}: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })
  return program
}

const CUTOVER_POLL_MS = 250
/** History entries a report carries. */
const REPORT_HISTORY_LIMIT = 1000

/** A command that reads an admin server: what it answered amiss, or that it cannot be reached, is said and exits 1. */
async function reporting(io: Out, admin: string, run: () => Promise<void>): Promise<void> {
  try {
    await run()
  } catch (err) {
    io.err(err instanceof AdminAnswerError ? `${err.message}\n` : `cannot reach the admin server at ${admin}: ${(err as Error).message}\n`)
    process.exitCode = 1
  }
}

/** The document of a proxy; a sync process's is refused with what to point the command at. */
function proxyOnly(status: StatusDocumentOut, admin: string, command: string): ProxyStatus {
  if (status.role === 'sync') throw new AdminAnswerError(`${admin} is a sync process; \`dualread ${command}\` reads a proxy's admin port (its /status holds the fleet's evidence)`)
  return status
}

/** Asks for the cutover, then follows GET /cutover until the authority is `to`, the run aborted, or time is up. */
async function runCutover(admin: string, to: Side, waitMs: number): Promise<{ ok: boolean, message: string }> {
  const asked = Date.now()
  const res = await fetch(new URL('/cutover', admin), { method: 'POST', headers: { 'content-type': 'application/json', ...authHeader() }, body: JSON.stringify({ to }) })
  if (!res.ok) return { ok: false, message: `cutover refused (${res.status}): ${(await res.json() as { detail: string }).detail}` }
  const deadline = asked + waitMs
  for (;;) {
    const report = await (await fetch(new URL('/cutover', admin), { headers: authHeader() })).json() as CutoverReport
    if (report.effective === to && report.phase === 'steady') return { ok: true, message: `writes go to ${to} (epoch ${report.epoch}); the sync now keeps ${to === 'new' ? 'old' : 'new'} following it` }
    const abort = report.lastAbort as { to: Side, at: number, reason: string } | null
    if (abort && abort.to === to && abort.at >= asked) return { ok: false, message: `cutover to ${to} aborted: ${abort.reason}; writes stay on ${report.effective}` }
    if (Date.now() > deadline) return { ok: false, message: `no outcome after ${waitMs / 1000} s: the authority is ${report.effective}, phase ${report.phase}; is \`dualread sync\` running? (see /status)` }
    await new Promise(r => setTimeout(r, CUTOVER_POLL_MS))
  }
}

async function parseFile(file: string) {
  try {
    return parsePolicy(await readFile(file, 'utf8'), file)
  } catch (err) {
    const problem = { file, line: 0, column: 0, key: '(file)', severity: 'error' as const, message: (err as Error).message, fix: 'check the path' }
    return { ok: false as const, errors: [problem], warnings: [], hash: '' }
  }
}

/** Progress bars belong on a terminal, and never in CI logs. */
export function progressBarStream(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): NodeJS.WriteStream | undefined {
  return stream.isTTY && !env['CI'] ? stream : undefined
}

/** The admin bearer token from DUALREAD_ADMIN_TOKEN, when set. */
function authHeader(): Record<string, string> {
  const token = process.env['DUALREAD_ADMIN_TOKEN']
  return token ? { authorization: `Bearer ${token}` } : {}
}

function collectHeader(value: string, previous: Record<string, string>): Record<string, string> {
  const i = value.indexOf(':')
  if (i <= 0) throw new InvalidArgumentError('expected "name: value"')
  return { ...previous, [value.slice(0, i).trim().toLowerCase()]: value.slice(i + 1).trim() }
}

/** Stops, then exports the spans still queued (the last requests' included); once, however often it is called. */
function thenFlush(stop: () => Promise<void>, tracing: Tracing): () => Promise<void> {
  let stopping: Promise<void> | undefined
  return () => (stopping ??= stop().then(() => tracing.shutdown()))
}

/** SIGTERM and SIGINT: stop accepting, drain, exit 0. A second signal exits at once. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1)
    stopping = true
    process.stderr.write(`${signal}: draining\n`)
    // A failed drain is an unhandled rejection: Node prints it and exits 1.
    void stop().then(() => process.exit(0))
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

export async function main(argv: string[]): Promise<void> {
  // Every action reports its own errors and sets the exit code; with exitOverride, commander
  // throws only its own errors (usage, help), which it has already printed.
  await buildProgram().parseAsync(argv).catch((err: CommanderError) => { process.exitCode = err.exitCode })
}
