// A small JSON API over real HTTP for the shapes real control planes have: documents stored by
// path (items, singletons), lists declared by a pattern (under any pointer or as a top-level
// array, of items whose paths need not sit under the list's own), and, optionally, a bearer token
// it insists on (its 401 echoes the token it was sent, as careless APIs do).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface ListRoute {
  /** The list's path; its groups can be used by `members`. */
  path: RegExp
  /** Which stored paths are the list's items. */
  members: (match: RegExpExecArray) => RegExp
  /** The body around the items: `items => items` for a top-level array. */
  wrap: (items: unknown[]) => unknown
}

export interface ShapeApiOptions {
  lists?: ListRoute[]
  /** The authorization header accepted now; without it, none is asked for. */
  token?: () => string
}

export interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

export class ShapeApi {
  readonly docs = new Map<string, unknown>()
  readonly seen: Seen[] = []
  url = ''
  #server: Server
  #sockets = new Set<Socket>()
  #o: ShapeApiOptions

  constructor(o: ShapeApiOptions = {}) {
    this.#o = o
    this.#server = createServer((req, res) => {
      let text = ''
      req.on('data', chunk => { text += chunk })
      req.on('end', () => {
        const url = req.url ?? '/'
        const path = url.split('?')[0]!
        this.seen.push({ method: req.method ?? '', url, headers: req.headers })
        const send = (status: number, body?: unknown) => {
          res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
          res.end(body === undefined ? undefined : JSON.stringify(body))
        }
        const token = this.#o.token?.()
        if (token !== undefined && req.headers.authorization !== token) return send(401, { error: 'unauthorized', detail: `refused: ${req.headers.authorization ?? '(none)'}` })
        if (req.method === 'GET') {
          for (const list of this.#o.lists ?? []) {
            const m = list.path.exec(path)
            if (!m) continue
            const members = list.members(m)
            return send(200, list.wrap([...this.docs].filter(([p]) => members.test(p)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, d]) => d)))
          }
          return this.docs.has(path) ? send(200, this.docs.get(path)) : send(404, { error: 'not_found' })
        }
        if (req.method === 'DELETE') {
          const had = this.docs.delete(path)
          return send(had ? 204 : 404)
        }
        const body: unknown = JSON.parse(text)
        if (req.method === 'PATCH') this.docs.set(path, { ...(this.docs.get(path) as object | undefined), ...(body as object) })
        else this.docs.set(path, body)
        return send(200, this.docs.get(path))
      })
    })
    this.#server.on('connection', s => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)) })
  }

  static async start(t: { teardown(fn: () => unknown): void }, o: ShapeApiOptions = {}): Promise<ShapeApi> {
    const api = new ShapeApi(o)
    await new Promise<void>(resolve => api.#server.listen(0, '127.0.0.1', resolve))
    api.url = `http://127.0.0.1:${(api.#server.address() as AddressInfo).port}`
    t.teardown(() => api.close())
    return api
  }

  /** The stored documents under a path prefix, by path. */
  under(prefix: string): Record<string, unknown> {
    return Object.fromEntries([...this.docs].filter(([p]) => p.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)))
  }

  writes(): Seen[] {
    return this.seen.filter(s => s.method !== 'GET')
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }
}
