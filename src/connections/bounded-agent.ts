// The write connections of one upstream: a keep-alive node agent (what http-proxy-3 streams
// writes, passthrough and upgrades through) of `connections` sockets, behind a ConnectionBudget
// of the same size, so a write finding them all busy waits a bounded time instead of in the
// agent's unbounded queue.
import http from 'node:http'
import https from 'node:https'
import type { Side } from '../policy/schema.ts'
import { ConnectionBudget } from './budget.ts'

export class BoundedAgent {
  readonly budget: ConnectionBudget
  readonly agent: http.Agent

  constructor(url: string, o: { side: Side, connections: number, onRefused: () => void }) {
    this.budget = new ConnectionBudget(o.side, 'writes', o.connections, o.onRefused)
    const options = { keepAlive: true, maxSockets: o.connections }
    this.agent = url.startsWith('https:') ? new https.Agent(options) : new http.Agent(options)
  }

  /** Closes its sockets, busy ones included (called once the generation's requests are done). */
  destroy(): void {
    this.agent.destroy()
  }
}
