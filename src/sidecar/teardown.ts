// What a starting process has opened so far. When the start fails, all of it is closed, last
// first, so a process that says it failed holds no port, connection, timer or lease.
import type { Logger } from '../telemetry/logger.ts'

export class Teardown {
  #steps: Array<{ what: string, close: () => unknown }> = []

  /** Registers how to close something just opened; `what` names it in the log if closing fails. */
  add(what: string, close: () => unknown): void {
    this.#steps.push({ what, close })
  }

  /** Closes everything registered, last first; a step that fails is logged and the others still run. */
  async run(log: Logger): Promise<void> {
    const steps = this.#steps.reverse()
    this.#steps = []
    for (const { what, close } of steps) {
      try {
        await close()
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, `cannot close ${what} after a failed start`)
      }
    }
  }
}

/**
 * Runs `start` with a Teardown it registers what it opens with; if `start` throws, everything
 * registered is closed before the error goes on.
 * @example
 * return startOrTearDown(log, async opened => { const s = await open(); opened.add('s', () => s.close()); ... })
 */
export async function startOrTearDown<T>(log: Logger, start: (opened: Teardown) => Promise<T>): Promise<T> {
  const opened = new Teardown()
  try {
    return await start(opened)
  } catch (err) {
    await opened.run(log)
    throw err
  }
}
