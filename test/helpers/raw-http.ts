// Requests fetch() cannot make: raw request targets (dot segments, absolute form, "*") and
// hop-by-hop headers such as Connection, which fetch owns.
import { request, type IncomingHttpHeaders } from 'node:http'

export interface RawAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface RawRequest {
  method?: string
  /** Sent as the request target exactly as given. */
  path: string
  headers?: Record<string, string | string[]>
  body?: string
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean
  /** A Trailer header (Node sends one only with a chunked body). */
  trailer?: string
}

export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const framing = r.body === undefined ? {} : r.chunked ? (r.trailer ? { trailer: r.trailer } : {}) : { 'content-length': String(Buffer.byteLength(r.body)) }
    const req = request({ hostname, port, method: r.method ?? 'GET', path: r.path, headers: { ...r.headers, ...framing } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    if (r.body !== undefined && r.chunked) {
      req.write(r.body.slice(0, 1))
      req.end(r.body.slice(1))
    } else {
      req.end(r.body)
    }
  })
}
