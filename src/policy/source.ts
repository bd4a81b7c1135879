// The policy in force, kept current from a file: the file's directory is watched (Kubernetes
// swaps a `..data` symlink, so watching the file itself goes silent after the first swap) and
// its hash is checked on a timer. A new policy is validated whole, then swapped in atomically;
// an invalid one is rejected and the last good one stays, also across restarts (see last-good.ts).
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { EventEmitter } from 'node:events'
import type { CompiledPolicy } from './compile.ts'
import { LastGoodPolicy } from './last-good.ts'
import { loadPolicyText, type Compile } from './load.ts'
import { hashPolicyText } from './parse.ts'
import { formatProblem, type PolicyProblem } from './problems.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'

export const DEFAULT_CHECK_INTERVAL_MS = 2000
const DEBOUNCE_MS = 50

export interface LoadedPolicy {
  compiled: CompiledPolicy
  generation: number
  loadedAt: Date
  /** `file` normally; `persisted` when the file was invalid at start and the last good copy serves. */
  origin: 'file' | 'persisted'
}

export interface PolicyRejection {
  at: Date
  hash: string
  problems: PolicyProblem[]
}

export class PolicyLoadError extends Error {
  readonly problems: PolicyProblem[]
  constructor(message: string, problems: PolicyProblem[]) {
    super(message)
    this.name = 'PolicyLoadError'
    this.problems = problems
  }
}

export interface PolicySourceOptions {
  file: string
  /** Where the last good policy is persisted. */
  stateDir: string
  log: Logger
  metrics: Metrics
  checkIntervalMs?: number
  /** How a validated policy is compiled (default compilePolicy); whatever it throws is a rejection. */
  compile?: Compile
}

/** Emits `applied` (LoadedPolicy) and `rejected` (PolicyRejection). */
export class PolicySource extends EventEmitter {
  #o: PolicySourceOptions
  #current: LoadedPolicy | undefined
  #lastSeenHash: string | undefined
  #lastError: PolicyRejection | undefined
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #debounce: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  /** Writes of the last good policy, in order; awaited on close so none is cut short. */
  #persisting: Promise<void> = Promise.resolve()
  #lastGood: LastGoodPolicy

  constructor(options: PolicySourceOptions) {
    super()
    this.#o = options
    this.#lastGood = new LastGoodPolicy(options.stateDir, options.file, options.compile)
    // Read only by /metrics, which is served after start() has loaded a policy.
    options.metrics.observePolicyGeneration(() => this.current.generation)
    // Set from a rejection until the next policy applied from the file: the file on disk is not the one in force.
    options.metrics.observePolicyRejected(() => this.#lastError !== undefined)
  }

  /** The policy in force; set by start(), which every caller awaits first. */
  get current(): LoadedPolicy {
    return this.#current!
  }

  get lastError(): PolicyRejection | undefined {
    return this.#lastError
  }

  get file(): string {
    return this.#o.file
  }

  /**
   * Loads the file, or else the persisted last good policy, then starts watching.
   * Throws PolicyLoadError when neither gives a valid policy.
   */
  async start(): Promise<LoadedPolicy> {
    const { file, log } = this.#o
    let text: string | undefined
    let readError: string | undefined
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      readError = `cannot read ${file}: ${(err as Error).message}`
    }
    const result = text === undefined ? undefined : loadPolicyText(text, file, this.#o.compile)
    if (result?.ok) {
      this.#lastSeenHash = result.hash
      this.#apply(result.compiled, 'file', text!)
    } else {
      const problems = result && !result.ok ? result.errors : [readProblem(file, readError!)]
      this.#lastSeenHash = result?.hash
      this.#reject(result?.hash ?? '', problems)
      const persisted = await this.#lastGood.load(text)
      if (!persisted.ok) {
        const message = `no valid policy: ${file} is invalid, and ${persisted.reason}. Fix ${file} (\`dualread policy check ${file}\` says how); this process does not start`
        log.error({ file, problems: problems.map(formatProblem), lastGood: this.#lastGood.path }, message)
        throw new PolicyLoadError(message, problems)
      }
      this.#apply(persisted.compiled, 'persisted')
      log.error({ file, problems: problems.map(formatProblem), servingHash: persisted.compiled.hash, saved: persisted.saved, migrationChecked: persisted.migrationChecked },
        `POLICY FILE INVALID AT START: serving the last good policy of ${persisted.saved.file} (migration "${persisted.saved.migration}", saved ${persisted.saved.savedAt}) from ${this.#lastGood.path} until ${file} is fixed`)
    }
    await this.#persisting
    this.#watch()
    return this.current
  }

  /** Re-reads the file now; a no-op when its content has not changed. */
  check(): Promise<void> {
    // One check at a time: a burst of watch events and the timer never race each other.
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    return this.#checking
  }

  async #check(): Promise<void> {
    const { file, log } = this.#o
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      // Mid-swap a ConfigMap directory can briefly lack the file; the next event or tick retries.
      log.debug({ err, file }, 'policy file not readable right now')
      return
    }
    const hash = hashPolicyText(text)
    if (hash === this.#lastSeenHash) return
    this.#lastSeenHash = hash
    const result = loadPolicyText(text, file, this.#o.compile)
    if (!result.ok) {
      this.#reject(result.hash, result.errors)
      log.error({ file, hash: result.hash, problems: result.errors.map(formatProblem), keptGeneration: this.current.generation },
        'policy reload rejected; the last good policy stays in force')
      return
    }
    for (const w of result.warnings) log.warn({ file }, formatProblem(w))
    this.#apply(result.compiled, 'file', text)
  }

  #apply(compiled: CompiledPolicy, origin: LoadedPolicy['origin'], text?: string): void {
    const generation = (this.#current?.generation ?? 0) + 1
    this.#current = { compiled, generation, loadedAt: new Date(), origin }
    if (origin === 'file') this.#lastError = undefined
    this.#o.metrics.policyReloads.add(1, { result: 'applied' })
    this.#o.log.info({ generation, hash: compiled.hash, origin }, 'policy applied')
    if (text !== undefined) this.#persisting = this.#persisting.then(() => this.#persist(text, compiled))
    this.emit('applied', this.#current)
  }

  #reject(hash: string, problems: PolicyProblem[]): void {
    this.#lastError = { at: new Date(), hash, problems }
    this.#o.metrics.policyReloads.add(1, { result: 'rejected' })
    this.emit('rejected', this.#lastError)
  }

  async #persist(text: string, compiled: CompiledPolicy): Promise<void> {
    try {
      await this.#lastGood.save(text, compiled)
    } catch (err) {
      this.#o.log.warn({ err, target: this.#lastGood.path }, 'cannot persist the last good policy; a restart with a broken file would not serve')
    }
  }

  #watch(): void {
    const interval = this.#o.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS
    this.#timer = setInterval(() => void this.check(), interval)
    this.#timer.unref()
    try {
      this.#watcher = watch(dirname(this.#o.file), { persistent: false }, () => {
        clearTimeout(this.#debounce)
        this.#debounce = setTimeout(() => void this.check(), DEBOUNCE_MS)
      })
      this.#watcher.on('error', err => this.#o.log.warn({ err }, 'policy directory watch failed; the periodic hash check continues'))
    } catch (err) {
      this.#o.log.warn({ err }, 'cannot watch the policy directory; relying on the periodic hash check')
    }
  }

  async close(): Promise<void> {
    this.#watcher?.close()
    clearInterval(this.#timer)
    clearTimeout(this.#debounce)
    await this.#checking
    await this.#persisting
  }
}

/** A rejection as /status shows it: when, which file version (hash), and each problem as one printable line. */
export function describeRejection(r: PolicyRejection | undefined): { at: string, hash: string, problems: string[] } | null {
  return r ? { at: r.at.toISOString(), hash: r.hash, problems: r.problems.map(formatProblem) } : null
}

function readProblem(file: string, message: string): PolicyProblem {
  return { file, line: 0, column: 0, key: '(file)', message, fix: 'check the path given with --policy or DUALREAD_POLICY', severity: 'error' }
}
