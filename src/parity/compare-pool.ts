// Shadow comparisons off the client's event loop: decoding (up to 32 MiB of inflate), JSON.parse,
// comparing and explaining run in worker threads (piscina). The main thread only hands over the
// bytes: each body's buffer is transferred, not copied. Workers are started with one policy
// generation's compare rules; a generation with other rules gets fresh workers, and the previous
// ones finish what they hold, then stop. A worker that crashes or is stopped at its heap cap fails
// its comparison (an `error` result) and piscina starts another in its place. The cap is a
// backstop, not the bound: Node stops a worker there on a best-effort basis, and some allocations
// abort the whole process instead (nodejs/node#47224); the decoded-size bound is what keeps a
// worker far from it.
// A small uncompressed pair (shadow.inlineCompareBytes) is compared here instead: its hand-off
// to a worker would cost this thread more than the comparison does.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import type { Resource } from '../policy/schema.ts'
import type { Logger } from '../telemetry/logger.ts'
import { knownSecrets } from '../telemetry/secrets.ts'
import type { BodyAnswer } from './compare.ts'
import { comparer, type ComparePlans, type CompareOutcome, type CompareTask, type WireAnswer } from './compare-task.ts'
import { maskKey } from './redact.ts'

/**
 * A worker's heap: room for two 32 MiB documents parsed; past it the worker stops, not the proxy.
 * (Far smaller heaps are not a safe setting: V8 ends the whole process when a worker's heap cannot
 * even hold its start-up snapshot, so this is no policy key.)
 */
export const WORKER_HEAP_MB = 1024
/** A comparison still running after this long is stopped with its worker (the pair is an error). */
export const COMPARE_TIMEOUT_MS = 60_000
/** How often overdue comparisons are looked for. */
const WATCHDOG_MS = 1000
/** The worker entry beside this module: compare-worker.ts in a clone, compare-worker.js in the build. */
const WORKER_FILE = new URL(`./compare-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href

export interface ComparePoolOptions {
  /** Worker threads (shadow.workers), read when a generation's workers start. */
  workers: () => number
  /**
   * Pairs of uncompressed bodies adding up to at most this many bytes are compared in this thread
   * (shadow.inlineCompareBytes): handing a pair to a worker costs this thread more than
   * comparing a small one. Read per pair; 0 sends every pair to a worker.
   */
  inlineBytes?: () => number
  /** Each worker's heap limit. */
  heapMb?: number
  /** Longest a comparison may take, waiting for a worker included (default COMPARE_TIMEOUT_MS). */
  timeoutMs?: number
  /** Bound on a decompressed body (tests use a small one). */
  maxDecodedBytes?: number
  /**
   * Where a worker that failed with no comparison in hand is logged (it ran out of memory after
   * failing its pair, it could not start): a pool error nobody listens to would end the process.
   */
  log: Logger
}

/** What a comparison is asked about: two answers to one read, under one generation's rules. */
export interface ComparePair {
  resources: Resource[]
  resourceType: string
  kind: CompareTask['kind']
  old: BodyAnswer
  new: BodyAnswer
  explain: boolean
}

export class ComparePool {
  #o: ComparePoolOptions
  #current: { key: string, resources: Resource[], pool: Piscina<CompareTask, CompareOutcome> } | undefined
  #retiring = new Set<Promise<void>>()
  #closed = false
  /** Each comparison's abort and deadline, checked by one timer (a timer per comparison costs the main thread more than the rest of the hand-off). */
  #deadlines = new Map<AbortController, number>()
  #watchdog: NodeJS.Timeout
  #inline = new WeakMap<Resource[], (task: CompareTask) => CompareOutcome>()

  constructor(options: ComparePoolOptions) {
    this.#o = options
    const timeoutMs = options.timeoutMs ?? COMPARE_TIMEOUT_MS
    this.#watchdog = setInterval(() => {
      const now = performance.now()
      for (const [abort, deadline] of this.#deadlines) if (now > deadline) abort.abort(new Error(`it took over ${timeoutMs} ms`))
    }, Math.min(WATCHDOG_MS, timeoutMs)).unref()
  }

  /** The live workers of the current generation (a test stops one to show the next comparisons still work). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.#current?.pool.threads ?? []
  }

  /**
   * Compares two answers in a worker; never rejects: a worker that fails is an `error` outcome.
   * The bodies' buffers move to the worker: do not use `pair.old.body` or `pair.new.body` after.
   */
  async compare(pair: ComparePair): Promise<CompareOutcome> {
    if (this.#closed) return failed('the proxy is stopping')
    if (this.#isSmall(pair)) return this.#inlineFor(pair.resources)(task(pair, pair.old, pair.new, []))
    const pool = this.#poolFor(pair.resources)
    const old = wire(pair.old)
    const neu = wire(pair.new)
    const abort = new AbortController()
    this.#deadlines.set(abort, performance.now() + (this.#o.timeoutMs ?? COMPARE_TIMEOUT_MS))
    let outcome: CompareOutcome
    try {
      outcome = await pool.run(task(pair, old, neu, knownSecrets()), { transferList: transferList(old.body, neu.body), signal: abort.signal })
    } catch (err) {
      const why = abort.signal.aborted ? (abort.signal.reason as Error) : err as Error
      outcome = failed(`the comparison failed in its worker thread: ${why.message}`)
    }
    this.#deadlines.delete(abort)
    return outcome
  }

  #isSmall(pair: ComparePair): boolean {
    const limit = this.#o.inlineBytes?.() ?? 0
    return pair.old.contentEncoding === undefined && pair.new.contentEncoding === undefined && pair.old.body.length + pair.new.body.length <= limit
  }

  /** This thread's comparer for a generation's rules (its own mask key and known credentials). */
  #inlineFor(resources: Resource[]): (task: CompareTask) => CompareOutcome {
    let compare = this.#inline.get(resources)
    // Uncompressed and small: no decompression bound to apply.
    if (!compare) this.#inline.set(resources, compare = comparer({ resources, maskKey: maskKey() }))
    return compare
  }

  /** The workers for these compare rules: the current ones, or new ones when the rules changed. */
  #poolFor(resources: Resource[]): Piscina<CompareTask, CompareOutcome> {
    // The same array for every read of one generation: a cheap check before the key.
    if (this.#current?.resources === resources) return this.#current.pool
    const workers = this.#o.workers()
    const key = JSON.stringify([workers, resources])
    if (this.#current?.key === key) {
      this.#current.resources = resources
      return this.#current.pool
    }
    if (this.#current) this.#retire(this.#current.pool)
    const plans: ComparePlans = { resources, maskKey: maskKey(), ...(this.#o.maxDecodedBytes ? { maxDecodedBytes: this.#o.maxDecodedBytes } : {}) }
    const pool = new Piscina<CompareTask, CompareOutcome>({
      filename: WORKER_FILE,
      name: 'default',
      minThreads: workers,
      maxThreads: workers,
      // The queue is bounded by shadow.maxInFlight upstream of here.
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: plans,
      // Not the parent's flags (a profiler, a test runner's loaders): a worker needs none to compare.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.#o.heapMb ?? WORKER_HEAP_MB },
    })
    pool.on('error', (err: Error) => this.#o.log.warn({ err }, 'a comparison worker failed; another is started in its place'))
    this.#current = { key, resources, pool }
    return pool
  }

  #retire(pool: Piscina): void {
    const closed = pool.close().finally(() => this.#retiring.delete(closed))
    this.#retiring.add(closed)
  }

  /** Waits for the comparisons in hand, then stops every worker. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#watchdog)
    if (this.#current) this.#retire(this.#current.pool)
    this.#current = undefined
    await Promise.all(this.#retiring)
  }
}

function task(pair: ComparePair, old: WireAnswer, neu: WireAnswer, secrets: readonly string[]): CompareTask {
  return { resourceType: pair.resourceType, kind: pair.kind, old, new: neu, explain: pair.explain, knownSecrets: secrets }
}

function failed(detail: string): CompareOutcome {
  return { result: 'error', pointers: [], versionsDiffer: false, detail }
}

/** A body whose buffer can move to a worker: the capture owns its buffer; anything else is copied once. */
function wire(a: BodyAnswer): WireAnswer {
  const b = a.body
  const owned = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)
  const body = owned ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b)
  return a.contentEncoding === undefined ? { status: a.status, body } : { status: a.status, body, contentEncoding: a.contentEncoding }
}

/** Each buffer once: a buffer listed twice cannot be transferred. */
function transferList(...bodies: Uint8Array[]): ArrayBuffer[] {
  return [...new Set(bodies.map(b => b.buffer as ArrayBuffer))]
}
