// Reads a Metrics instance the way Prometheus does: its /metrics text, over a real HTTP server.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Metrics } from '../../src/telemetry/metrics.ts'

export async function scrape(metrics: Metrics): Promise<string> {
  const server = createServer((req, res) => metrics.handle(req, res))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    return await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text()
  } finally {
    server.close()
  }
}
