// Bench child: the baseline, a bare http-proxy-3 pass-through to one target (argv[2]) in its
// fairest configuration: a keep-alive agent, nothing else on the path.
import http from 'node:http'
import { createProxyServer } from 'http-proxy-3'
import { serveForParent } from './child.ts'

// As many upstream connections as dualread's default pool (`connections: 64`).
const MAX_SOCKETS = 64
const KEEP_ALIVE_MS = 65_000

const target = process.argv[2]
if (!target) throw new Error('usage: bare-proxy.ts TARGET_URL')

const proxy = createProxyServer({ target, agent: new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }) })
proxy.on('error', (err, _req, res) => {
  if (!(res instanceof http.ServerResponse)) { res.destroy(); return }
  if (res.headersSent) { res.destroy(); return }
  res.writeHead(502, { 'content-type': 'text/plain' })
  res.end(`bare proxy: ${err.message}`)
})

const server = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => { void proxy.web(req, res) })
serveForParent(server)
