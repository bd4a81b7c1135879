// Bench child: a stand-in upstream API that answers every request with the same ~1 KB JSON
// alert rule, so the cost measured is the path in front of it, not the upstream's work. With the
// argument `reordered`, the same rule with its keys in another order: equal to the other
// upstream's once parsed, but not byte for byte, so a shadow comparison has to parse both.
import { createServer } from 'node:http'
import { serveForParent } from './child.ts'

/** `bytes=N` on the command line sets another size. */
const DOCUMENT_BYTES = Number(process.argv.find(a => a.startsWith('bytes='))?.slice('bytes='.length) ?? 1024)
// Longer than any pause between bench rounds, so proxies keep their upstream connections.
const KEEP_ALIVE_MS = 60_000

/** An alert rule padded (in its description) to `bytes` bytes of JSON. */
function alertRule(bytes: number): Buffer {
  const rule = {
    id: 'r1',
    tenant: 'acme',
    name: 'HighErrorRate',
    version: 7,
    enabled: true,
    expr: 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05',
    for: '10m',
    labels: { severity: 'critical', team: 'payments', service: 'checkout' },
    annotations: { summary: 'Error rate above 5% for 10 minutes', description: '' },
    routing: { receiver: 'pagerduty-payments', groupBy: ['alertname', 'service'], repeatInterval: '4h' },
    updatedAt: '2025-01-01T00:00:00.000Z',
  }
  // Grown as real rules grow, by receivers (objects to parse and compare), then padded to size.
  const receivers: Array<Record<string, unknown>> = []
  for (let i = 0; Buffer.byteLength(JSON.stringify({ ...rule, receivers })) < bytes - 200; i++) {
    receivers.push({ name: `receiver-${i}`, type: 'webhook', url: `https://hooks.example.com/${i}`, sendResolved: i % 2 === 0 })
  }
  Object.assign(rule, { receivers })
  const padding = Math.max(0, bytes - Buffer.byteLength(JSON.stringify(rule)))
  rule.annotations.description = 'x'.repeat(padding)
  const doc = process.argv.includes('reordered') ? Object.fromEntries(Object.entries(rule).reverse()) : rule
  return Buffer.from(JSON.stringify(doc))
}

const body = alertRule(DOCUMENT_BYTES)
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) }

const server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
  req.resume()
  res.writeHead(200, headers)
  res.end(body)
})
serveForParent(server)
