// The sync's signals in the embedded mode: the proxy and the sync share this process, so applied
// events go to listeners here, and the status lives in memory (it means nothing after a restart).
import type { AppliedListener, SyncSignals, WrittenListener } from '../signals.ts'

export class LocalSignals implements SyncSignals {
  #listeners = new Set<AppliedListener>()
  #written = new Set<WrittenListener>()
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

  onApplied(listener: AppliedListener): Promise<() => Promise<void>> {
    return subscribe(this.#listeners, listener)
  }

  async publishWritten(resourceType: string, tenant: string, at: number): Promise<void> {
    for (const listener of this.#written) listener(resourceType, tenant, at)
  }

  onWritten(listener: WrittenListener): Promise<() => Promise<void>> {
    return subscribe(this.#written, listener)
  }

  close(): void {
    this.#listeners.clear()
    this.#written.clear()
  }
}

async function subscribe<L extends (...args: never[]) => void>(listeners: Set<L>, listener: L): Promise<() => Promise<void>> {
  // Wrapped, so the same function subscribed twice is two subscriptions.
  const subscription = ((...args: Parameters<L>) => listener(...args)) as L
  listeners.add(subscription)
  return async () => {
    listeners.delete(subscription)
  }
}
