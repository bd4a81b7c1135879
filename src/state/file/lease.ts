// The lease of the embedded mode: held in memory (this process is the only writer); the last
// fencing token is saved, so tokens keep rising across restarts.
import type { Lease, LeaseStore } from '../lease.ts'

export class LocalLease implements LeaseStore {
  #lease: Lease | undefined
  #token: number
  #save: () => Promise<void>

  constructor(lastToken: number, save: () => Promise<void>) {
    this.#token = lastToken
    this.#save = save
  }

  /** The last token handed out. */
  get lastToken(): number {
    return this.#token
  }

  async acquire(owner: string, ttlMs: number): Promise<Lease | undefined> {
    const now = Date.now()
    const held = this.#lease !== undefined && this.#lease.expiresAt > now ? this.#lease : undefined
    if (held && held.owner !== owner) return undefined
    if (held) {
      held.expiresAt = now + ttlMs
      return { ...held }
    }
    // Taken before the write, so a second caller meanwhile sees it held.
    const lease = { owner, token: ++this.#token, expiresAt: now + ttlMs }
    this.#lease = lease
    try {
      await this.#save()
    } catch (err) {
      // Its token is not durable, so nobody may act on it.
      if (this.#lease === lease) this.#lease = undefined
      throw err
    }
    return { ...lease }
  }

  async holds(lease: Lease): Promise<boolean> {
    return this.#isCurrent(lease) && this.#lease!.expiresAt > Date.now()
  }

  async release(lease: Lease): Promise<void> {
    if (this.#isCurrent(lease)) this.#lease = undefined
  }

  #isCurrent(lease: Lease): boolean {
    return this.#lease?.owner === lease.owner && this.#lease.token === lease.token
  }
}
