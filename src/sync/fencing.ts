// The one error that means this process must not write another byte: it no longer holds the lease.

export class LeaseLostError extends Error {
  constructor() {
    super('the sync lease passed to another process; this one stops writing')
    this.name = 'LeaseLostError'
  }
}
