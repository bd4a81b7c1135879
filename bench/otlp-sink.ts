// Bench child: an OTLP/HTTP collector stand-in that takes every export (protobuf, the exporter's
// default) and answers 200, counting requests and bytes; GET /stats reports them.
import { createServer } from 'node:http'
import { serveForParent } from './child.ts'

export interface SinkStats { exports: number, bytes: number }

const stats: SinkStats = { exports: 0, bytes: 0 }

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats))
    return
  }
  req.on('data', (chunk: Buffer) => { stats.bytes += chunk.length })
  req.on('end', () => {
    stats.exports++
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end()
  })
})
serveForParent(server)
