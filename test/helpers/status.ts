// A complete /status document of a proxy, valid against src/status/schema.ts, for tests that feed
// a consumer a document of their own (a field changed, or missing as from another version).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { proxyStatus, type ProxyStatus } from '../../src/status/schema.ts'

export function proxyStatusFixture(over: Partial<ProxyStatus> = {}): ProxyStatus {
  return proxyStatus.parse({
    role: 'proxy',
    policy: { file: 'policy.yaml', generation: 1, hash: 'h', loadedAt: '2026-01-01T00:00:00.000Z', origin: 'file', degraded: false, lastError: null, restartNeeded: null },
    migration: { name: 'm', phase: 'shadow', reason: 'r', decommission: { ready: true, cleanHours: 168, neededHours: 168, reason: '168 clean hours in a row across every slice' } },
    evidence: { store: 'redis', replicas: 0, at: null, unavailable: 'evidence in redis: cannot read', slices: [] },
    authority: 'old',
    writes: { shared: false, effective: 'old', desired: 'old', phase: 'steady' },
    upstreams: Object.fromEntries(['old', 'new'].map(side => [side, {
      url: `http://${side}.example`, breakers: {}, headers: {},
      connections: { reads: { size: 64, inUse: 0, waiting: 0 }, writes: { size: 16, inUse: 0, waiting: 0 } },
    }])),
    overrides: { backend: 'memory', stale: false, entries: {} },
    rules: [],
    parity: [],
    shadow: { inFlight: 0, maxInFlight: 256 },
    readYourWrites: { windowMs: 5000, trackedSlices: 0 },
    traffic: [],
    sync: { unavailable: 'no sync process has published its status lately' },
    ...over,
  })
}

/** An answer of another status than 200, its body as given. */
export class Refusal {
  readonly status: number
  readonly text: string
  constructor(status: number, text: string) {
    this.status = status
    this.text = text
  }
}

/** An HTTP server answering every GET with `answer(path)` as JSON (a Refusal as it says); resolves to its URL. */
export async function serveJson(t: Test, answer: (path: string) => unknown): Promise<string> {
  const server = createServer((req, res) => {
    const a = answer(req.url!.split('?')[0]!)
    const [status, body] = a instanceof Refusal ? [a.status, a.text] : [200, JSON.stringify(a)]
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
