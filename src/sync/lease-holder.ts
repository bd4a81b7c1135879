// Leadership of one sync process: it takes the single-writer lease, renews it while it leads,
// and fences every write on it, so a process that lost the lease never writes another byte.
import type { Lease, LeaseStore } from '../state/lease.ts'
import type { Logger } from '../telemetry/logger.ts'
import { LeaseLostError } from './fencing.ts'

export class LeaseHolder {
  readonly owner: string
  #leases: LeaseStore
  #ttlMs: number
  #log: Logger
  #lease: Lease | undefined

  constructor(leases: LeaseStore, owner: string, ttlMs: number, log: Logger) {
    this.#leases = leases
    this.owner = owner
    this.#ttlMs = ttlMs
    this.#log = log
  }

  /** The lease while this process holds it (as far as it knows). */
  get current(): Lease | undefined {
    return this.#lease
  }

  /** Takes the lease; resolves undefined while another process holds it. Rejects when the store is away. */
  async take(): Promise<Lease | undefined> {
    this.#lease = await this.#leases.acquire(this.owner, this.#ttlMs)
    return this.#lease
  }

  /** Renews the lease every third of its period until the returned function is called. */
  keepRenewed(): () => void {
    const renew = setInterval(() => void this.#renew(), this.#ttlMs / 3)
    return () => clearInterval(renew)
  }

  async #renew(): Promise<void> {
    try {
      const lease = await this.#leases.acquire(this.owner, this.#ttlMs)
      if (lease?.token !== this.#lease?.token) this.#lease = undefined
    } catch (err) {
      // An unreachable store cannot confirm the lease: stop writing until it can.
      this.#log.warn({ err: { message: (err as Error).message } }, 'cannot renew the sync lease; pausing writes')
      this.#lease = undefined
    }
  }

  /** Throws LeaseLostError unless the lease is still this process's. */
  fence = async (): Promise<void> => {
    if (this.#lease === undefined || !(await this.#leases.holds(this.#lease))) throw new LeaseLostError()
  }

  /** Forgets the lease without telling the store (it was lost). */
  drop(): void {
    this.#lease = undefined
  }

  /** Gives the lease back (a no-op if it was lost meanwhile); never rejects. */
  async release(): Promise<void> {
    const lease = this.#lease
    this.#lease = undefined
    if (lease) await this.#leases.release(lease).catch(() => undefined)
  }
}
