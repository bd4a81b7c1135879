// The demo's clients: reads across tenants, regions and resource types, and a steady trickle of
// threshold updates, all through the proxy.
import { Pool } from 'undici'
import { seededId } from '../reference/index.ts'

const TICK_MS = 20
const WRITE_EVERY = 10
const REGIONS = ['us-east-1', 'eu-west-1']

export class TrafficGenerator {
  #pool: Pool
  #tenants: string[]
  #perType: number
  #timer: NodeJS.Timeout | undefined
  #tick = 0
  sent = 0

  constructor(proxyUrl: string, tenants: string[], perType: number) {
    this.#pool = new Pool(proxyUrl, { connections: 4 })
    this.#tenants = tenants
    this.#perType = perType
  }

  start(): void {
    this.#timer = setInterval(() => void this.#step(), TICK_MS)
  }

  async #step(): Promise<void> {
    const n = this.#tick++
    const tenant = this.#tenants[n % this.#tenants.length]!
    const id = seededId('alert-rule', 1 + (n * 7) % this.#perType)
    const path = `/api/v1/tenants/${tenant}/alert-rules/${id}`
    const headers = { 'x-region': REGIONS[n % REGIONS.length]!, 'content-type': 'application/json' }
    try {
      if (n % WRITE_EVERY === 0) {
        const current = await this.#pool.request({ path, method: 'GET', headers })
        const doc = await current.body.json() as Record<string, unknown>
        const { version: _v, updatedAt: _u, ...rest } = doc
        const res = await this.#pool.request({ path, method: 'PUT', headers, body: JSON.stringify({ ...rest, threshold: n }) })
        await res.body.dump()
      } else {
        const res = await this.#pool.request({ path: n % 5 === 0 ? `/api/v1/tenants/${tenant}/alert-rules` : path, method: 'GET', headers })
        await res.body.dump()
      }
      this.sent++
    } catch {
      // A failed demo request is visible in the proxy's metrics; the generator just goes on.
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#pool.close()
  }
}
