// Sync progress per resource type: scopes (tenants) done out of all, objects seen, and an ETA.
// A progress bar on a terminal; a plain log line every few seconds otherwise; metrics always.
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'

const LOG_EVERY_MS = 5000

interface TypeProgress { scopes: number, done: number, objects: number, startedAt: number, bar?: SingleBar }

export class SyncProgress {
  #types = new Map<string, TypeProgress>()
  #bars: MultiBar | undefined
  #log: Logger
  #loggedAt = 0

  /** With `bars` (a terminal), progress is drawn there; without, it is logged every few seconds. */
  constructor(options: { log: Logger, metrics: Metrics, bars?: NodeJS.WritableStream | undefined }) {
    this.#log = options.log
    if (options.bars) {
      this.#bars = new MultiBar({
        format: '{type} [{bar}] {value}/{total} tenants · {objects} objects · ETA {eta_formatted}',
        hideCursor: true, clearOnComplete: false, stopOnComplete: false, noTTYOutput: true, stream: options.bars,
      }, Presets.shades_classic)
    }
    options.metrics.observeSyncProgress(() => [...this.#types.entries()].map(([resourceType, p]) => ({ resourceType, ratio: p.scopes === 0 ? 1 : p.done / p.scopes })))
  }

  /** A new pass over one resource type, across `scopes` tenants. */
  begin(type: string, scopes: number): void {
    const previous = this.#types.get(type)
    const p: TypeProgress = { scopes, done: 0, objects: 0, startedAt: Date.now(), ...(previous?.bar ? { bar: previous.bar } : {}) }
    p.bar ??= this.#bars?.create(scopes, 0, { type: type.padEnd(18), objects: 0 })
    p.bar?.start(scopes, 0, { type: type.padEnd(18), objects: 0 })
    this.#types.set(type, p)
  }

  scopeDone(type: string, objects: number): void {
    const p = this.#types.get(type)!
    p.done++
    p.objects += objects
    p.bar?.update(p.done, { objects: p.objects })
    if (!this.#bars && (Date.now() - this.#loggedAt >= LOG_EVERY_MS || p.done === p.scopes)) {
      this.#loggedAt = Date.now()
      this.#log.info({ resourceType: type, tenantsDone: p.done, tenants: p.scopes, objects: p.objects, etaSec: this.eta(type) }, `sync progress: ${type} ${p.done}/${p.scopes} tenants`)
    }
  }

  /** Seconds left for the type's pass at the pace so far; undefined before the first scope. */
  eta(type: string): number | undefined {
    const p = this.#types.get(type)
    if (!p || p.done === 0) return undefined
    return Math.round((Date.now() - p.startedAt) / p.done * (p.scopes - p.done) / 1000)
  }

  snapshot(): Record<string, { tenantsDone: number, tenants: number, objects: number, etaSec: number | undefined }> {
    return Object.fromEntries([...this.#types.entries()].map(([type, p]) => [type, { tenantsDone: p.done, tenants: p.scopes, objects: p.objects, etaSec: this.eta(type) }]))
  }

  stop(): void {
    this.#bars?.stop()
  }
}
