// The sync's signals in the embedded mode: the proxy and the sync share this process, so applied
// events go to listeners here, and the status lives in memory (it means nothing after a restart).
import type { AppliedListener, SyncSignals } from '../signals.ts'

export class LocalSignals implements SyncSignals {
  #listeners = new Set<AppliedListener>()
  #status: { text: string, expiresAt: number } | undefined

  async publishStatus(status: string, ttlMs: number): Promise<void> {
    this.#status = { text: status, expiresAt: Date.now() + ttlMs }
  }

  async readStatus(): Promise<string | undefined> {
    return this.#status && this.#status.expiresAt > Date.now() ? this.#status.text : undefined
  }

  async publishApplied(resourceType: string, tenant: string, upTo: number): Promise<void> {
    for (const listener of this.#listeners) listener(resourceType, tenant, upTo)
  }

  async onApplied(listener: AppliedListener): Promise<() => Promise<void>> {
    // Wrapped, so the same function subscribed twice is two subscriptions.
    const subscription: AppliedListener = (...args) => listener(...args)
    this.#listeners.add(subscription)
    return async () => {
      this.#listeners.delete(subscription)
    }
  }

  close(): void {
    this.#listeners.clear()
  }
}
