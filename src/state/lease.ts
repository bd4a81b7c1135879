// One writer per migration: a lease with a fencing token.

export interface Lease {
  owner: string
  /** Fencing token: rises every time the lease changes hands. */
  token: number
  expiresAt: number
}

export interface LeaseStore {
  /**
   * Takes the lease, or renews it when `owner` already holds it. Resolves undefined while another
   * owner holds an unexpired lease. A new holder gets a higher token than any before it.
   */
  acquire(owner: string, ttlMs: number): Promise<Lease | undefined>
  /** True while `lease` is still the current one (same owner and token, not expired). */
  holds(lease: Lease): Promise<boolean>
  release(lease: Lease): Promise<void>
}
