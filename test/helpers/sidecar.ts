// Starts a real proxy sidecar on ephemeral loopback ports, with its log captured for assertions.
import { Writable } from 'node:stream'
import { startProxySidecar, type ProxySidecar, type ProxySidecarOptions } from '../../src/sidecar/proxy-sidecar.ts'
import { createLogger } from '../../src/telemetry/logger.ts'

export interface TestSidecar extends ProxySidecar {
  logs: string[]
  get(path: string, headers?: Record<string, string>): Promise<Response>
}

export function captureLog(level = 'info') {
  const logs: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) { logs.push(chunk.toString()); done() },
  })
  return { logs, log: createLogger({ level, destination }) }
}

interface Teardown { teardown(fn: () => unknown): void }

export async function startTestSidecar(t: Teardown, o: Partial<ProxySidecarOptions> & { policyFile: string, stateDir: string }, level = 'info'): Promise<TestSidecar> {
  const { logs, log } = captureLog(level)
  const sidecar = await startProxySidecar({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', log, policyCheckIntervalMs: 100, ...o })
  t.teardown(() => sidecar.stop())
  return Object.assign(sidecar, {
    logs,
    get: (path: string, headers: Record<string, string> = {}) => fetch(sidecar.proxyUrl + path, { headers }),
  })
}

/** Polls until `check` holds or the deadline passes; resolves to the last result. */
export async function eventually<T>(read: () => Promise<T> | T, check: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (check(v) || Date.now() > deadline) return v
    await new Promise(r => setTimeout(r, 25))
  }
}
