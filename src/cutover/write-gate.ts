// Where a proxy replica sends writes: the effective authority of the fleet, not its own reading
// of the policy file. While a cutover holds writes, new writes wait here (up to maxHoldMs) and
// the replica confirms the hold once its writes in flight have finished and been announced to
// the sync; once the cutover switches or aborts, the held writes go to the authority then in
// force. A replica never sends a write anywhere it cannot confirm: if it loses the state store
// for longer than staleViewMs it refuses writes with 503, because a cutover might have switched.
import type { CutoverConfig, Side } from '../policy/schema.ts'
import type { Logger } from '../telemetry/logger.ts'
import type { Metrics } from '../telemetry/metrics.ts'
import type { CutoverRun, CutoverState } from './state.ts'
import type { CutoverStore } from './store.ts'
import type { WritesStatus } from '../status/schema.ts'

const POLL_MS = 100
const RETRY_AFTER_SEC = 1

/** A write let through: send it to `side`, then call `done` once it has finished and been announced. */
export interface Admitted {
  side: Side
  /** How long the write waited for a cutover (ms); 0 when it did not wait. */
  heldMs: number
  done(announced?: Promise<unknown>): void
}

export interface Refused {
  refused: { reason: string, retryAfterSec: number }
}

export type Admission = Admitted | Refused

/** What the proxy's write path needs; the file-only variant has no cutover at all. */
export interface WriteRouter {
  /** The authority in force for this replica's writes and pinned reads. */
  authority(): Side
  admit(): Admission | Promise<Admission>
  describe(): WritesStatus
  close(): Promise<void>
}

/** No shared state (a proxy without a sync): the policy file's authority is the authority. */
export class FileAuthority implements WriteRouter {
  #file: () => Side

  constructor(fileAuthority: () => Side) {
    this.#file = fileAuthority
  }

  authority(): Side {
    return this.#file()
  }

  admit(): Admission {
    return { side: this.#file(), heldMs: 0, done: () => undefined }
  }

  describe(): WritesStatus {
    return { shared: false, effective: this.#file(), desired: this.#file(), phase: 'steady' }
  }

  async close(): Promise<void> {}
}

export interface WriteGateOptions {
  store: CutoverStore
  /** This replica's name in the registry (host, pid and a random part). */
  replica: string
  config: () => CutoverConfig
  /** The policy file's authority: the desired one, and the initial one of a new migration. */
  fileAuthority: () => Side
  log: Logger
  metrics: Metrics
  clock?: () => number
  pollMs?: number
}

interface RunView {
  run: CutoverRun
  /** Local clock when this replica first saw the run: its own deadline counts from here. */
  seenAt: number
  holdConfirmed: boolean
  /** Set before the confirmation is sent: a confirmation that may have landed counts as given. */
  switchConfirmed: boolean
  /** This replica's deadline passed without an outcome while the run could not switch any more. */
  void: boolean
}

interface Waiter {
  since: number
  resolve: (admission: Admission) => void
  timer: NodeJS.Timeout
}

export class WriteGate implements WriteRouter {
  #o: WriteGateOptions
  #clock: () => number
  #state: CutoverState | undefined
  /** Local clock of the last successful read of the state. */
  #readAt = -Infinity
  #run: RunView | undefined
  #inFlight = 0
  #announcing = new Set<Promise<unknown>>()
  #waiters = new Set<Waiter>()
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #unreachable = false

  constructor(o: WriteGateOptions) {
    this.#o = o
    this.#clock = o.clock ?? Date.now
  }

  /** Reads the state once (creating it from the file's authority on a new migration), then polls. */
  async start(): Promise<void> {
    await this.poll()
    this.#timer = setInterval(() => void this.poll(), this.#o.pollMs ?? POLL_MS)
    this.#timer.unref()
  }

  /** One check-in: registers this replica as alive and follows the state. */
  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => { this.#polling = undefined })
    return this.#polling
  }

  async #poll(): Promise<void> {
    let state: CutoverState | undefined
    try {
      const found = await this.#o.store.checkIn(this.#o.replica)
      if (found === undefined && this.#state !== undefined && this.#state.phase !== 'steady') {
        // Lost in the middle of a cutover: its outcome is not this replica's to guess. Writes wait
        // or stop as when the store is unreachable; the sync leader puts the state back.
        this.#settle()
        return
      }
      // A store that lost the state (a Redis restarted without persistence) gets the authority this
      // replica last confirmed, not the file's: the file may still say what it said before a command.
      state = found ?? await this.#o.store.initialize(this.#state?.authority ?? this.#o.fileAuthority())
    } catch (err) {
      if (!this.#unreachable) this.#o.log.warn({ err: { message: (err as Error).message } }, 'cannot read the write authority from the state store; writes continue to the last one confirmed, for cutover.staleViewMs')
      this.#unreachable = true
      this.#settle()
      return
    }
    if (this.#unreachable) this.#o.log.info('the state store answers again; following the write authority')
    this.#unreachable = false
    this.#readAt = this.#clock()
    this.#follow(state)
  }

  #follow(state: CutoverState): void {
    const previous = this.#state
    this.#state = state
    if (previous && previous.epoch !== state.epoch) {
      this.#o.log.warn({ epoch: state.epoch, authority: state.authority, from: previous.authority }, `write authority switched to ${state.authority}`)
    }
    if (state.phase === 'steady' || !state.run) {
      this.#run = undefined
    } else if (this.#run?.run.id !== state.run.id) {
      this.#run = { run: state.run, seenAt: this.#clock(), holdConfirmed: false, switchConfirmed: false, void: false }
      this.#o.log.info({ run: state.run.id, to: state.run.to }, 'cutover: holding new writes')
    } else if (!this.#run.void && this.#clock() - this.#run.seenAt > this.#o.config().maxHoldMs) {
      // Read just now, past this replica's deadline, and still not switched: the store's clock is
      // past the run's deadline too (it began before this replica saw it), so it cannot switch.
      this.#run.void = true
      this.#o.log.warn({ run: state.run.id }, 'cutover did not finish in time; writes go on to the authority in force')
    }
    this.#settle()
    this.#confirm(state)
  }

  /** Confirms the hold once nothing is in flight, and the switch once asked. */
  #confirm(state: CutoverState): void {
    const view = this.#run
    if (!view || view.void) return
    if (!view.holdConfirmed && this.#inFlight === 0 && this.#announcing.size === 0) {
      view.holdConfirmed = true
      this.#send(view, 'hold')
    }
    if (state.phase === 'switch' && view.holdConfirmed && !view.switchConfirmed) {
      view.switchConfirmed = true
      this.#send(view, 'switch')
    }
  }

  #send(view: RunView, phase: 'hold' | 'switch'): void {
    this.#o.store.confirm(view.run.id, phase, this.#o.replica).catch((err: Error) => {
      // The coordinator waits for it; without it the cutover aborts, which is safe.
      this.#o.log.warn({ err: { message: err.message }, run: view.run.id, phase }, 'cannot confirm a cutover step')
      if (phase === 'hold') view.holdConfirmed = false
    })
  }

  /** What a write gets right now: go (and where), wait, or a refusal. */
  #verdict(): { go: Side } | 'wait' | Refused {
    const staleForMs = this.#clock() - this.#readAt
    if (!this.#state || staleForMs > this.#o.config().staleViewMs) {
      return refuse(this.#state
        ? `the write authority could not be confirmed with the state store for ${Math.round(staleForMs / 1000)} s; retry when it is reachable`
        : 'the write authority is not known yet: the state store has not answered since this proxy started')
    }
    const view = this.#run
    if (!view || view.void) return { go: this.#state.authority }
    if (this.#clock() - view.seenAt <= this.#o.config().maxHoldMs) return 'wait'
    // Past the deadline with no word from the store. Without this replica's confirmation the
    // run cannot have switched, so the authority in force still is; with it, nobody can say.
    if (!view.switchConfirmed) {
      view.void = true
      return { go: this.#state.authority }
    }
    return refuse(`a cutover to ${view.run.to} did not finish in time and its outcome cannot be read from the state store`)
  }

  /** Releases the writes waiting, or refuses them, whenever the verdict changes. */
  #settle(): void {
    if (this.#waiters.size === 0) return
    const verdict = this.#verdict()
    if (verdict === 'wait') return
    for (const waiter of this.#waiters) this.#release(waiter, verdict)
  }

  #release(waiter: Waiter, verdict: { go: Side } | Refused): void {
    clearTimeout(waiter.timer)
    this.#waiters.delete(waiter)
    const heldMs = this.#clock() - waiter.since
    this.#o.metrics.writeHold.record(heldMs / 1000)
    waiter.resolve('go' in verdict ? this.#admitted(verdict.go, heldMs) : verdict)
  }

  #admitted(side: Side, heldMs: number): Admitted {
    this.#inFlight++
    let finished = false
    return {
      side, heldMs,
      done: announced => {
        if (finished) return
        finished = true
        if (announced) {
          this.#announcing.add(announced)
          void announced.catch(() => undefined).finally(() => {
            this.#announcing.delete(announced)
            this.#finish()
          })
        }
        this.#inFlight--
        this.#finish()
      },
    }
  }

  #finish(): void {
    if (this.#state) this.#confirm(this.#state)
  }

  authority(): Side {
    return this.#state?.authority ?? this.#o.fileAuthority()
  }

  admit(): Admission | Promise<Admission> {
    const verdict = this.#verdict()
    if (verdict === 'wait') {
      const since = this.#clock()
      return new Promise(resolve => {
        const waiter: Waiter = {
          since, resolve,
          timer: setTimeout(() => this.#release(waiter, refuse(`a cutover held this write for ${this.#o.config().maxHoldMs} ms (cutover.maxHoldMs) without finishing`)), this.#o.config().maxHoldMs),
        }
        this.#waiters.add(waiter)
      })
    }
    return 'go' in verdict ? this.#admitted(verdict.go, 0) : verdict
  }

  describe(): WritesStatus {
    const fileAuthority = this.#o.fileAuthority()
    const state = this.#state
    return {
      shared: true,
      effective: state?.authority ?? null,
      desired: fileAuthority,
      epoch: state?.epoch ?? null,
      phase: state?.phase ?? 'unknown',
      pending: state !== undefined && state.authority !== fileAuthority
        ? `cutover pending: the policy file says ${fileAuthority}, writes still go to ${state.authority} until the sync leader completes the cutover`
        : null,
      run: state?.run ?? null,
      heldWrites: this.#waiters.size,
      writesInFlight: this.#inFlight,
      lastConfirmedAgoMs: Number.isFinite(this.#readAt) ? this.#clock() - this.#readAt : null,
      lastSwitch: state?.lastSwitch ?? null,
      lastAbort: state?.lastAbort ?? null,
    }
  }

  /** Stops polling, refuses what still waits, and leaves the registry so no cutover waits for it. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#polling
    for (const waiter of this.#waiters) this.#release(waiter, refuse('this proxy is stopping'))
    await this.#o.store.leave(this.#o.replica).catch(() => undefined)
  }
}

function refuse(reason: string): Refused {
  return { refused: { reason, retryAfterSec: RETRY_AFTER_SEC } }
}
