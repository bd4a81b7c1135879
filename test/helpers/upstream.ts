// A real HTTP upstream on an ephemeral loopback port that records what it receives and
// can be told to answer slowly, with an error status, or not at all.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface Behaviour {
  /** The status, or a function of how many requests came before this one. */
  status?: number | ((count: number) => number)
  delayMs?: number
  /** The JSON body, or a function of the request (and how many requests came before it). */
  body?: unknown | ((req: Received, count: number) => unknown)
  headers?: Record<string, string>
}

export class TestUpstream {
  readonly name: string
  readonly received: Received[] = []
  behaviour: Behaviour = {}
  #server: Server
  #sockets = new Set<import('node:net').Socket>()
  url = ''

  constructor(name: string) {
    this.name = name
    this.#server = createServer((req, res) => {
      let body = ''
      req.on('data', chunk => { body += chunk })
      req.on('end', () => {
        const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }
        const index = this.received.push(received) - 1
        const b = this.behaviour
        const send = () => {
          const value = typeof b.body === 'function' ? (b.body as (r: Received, n: number) => unknown)(received, index) : b.body
          const payload = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value ?? { served: this.name, url: req.url })
          const status = typeof b.status === 'function' ? b.status(index) : b.status
          res.writeHead(status ?? 200, { 'content-type': 'application/json', ...b.headers })
          res.end(payload)
        }
        if (b.delayMs) setTimeout(send, b.delayMs)
        else send()
      })
    })
    this.#server.on('connection', s => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)) })
  }

  static async start(name: string, port = 0): Promise<TestUpstream> {
    const u = new TestUpstream(name)
    await u.listen(port)
    return u
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>(resolve => this.#server.listen(port, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  get port(): number {
    return Number(new URL(this.url).port)
  }

  reads(): Received[] {
    return this.received.filter(r => r.method === 'GET' || r.method === 'HEAD')
  }

  writes(): Received[] {
    return this.received.filter(r => r.method !== 'GET' && r.method !== 'HEAD')
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server.close(() => resolve()))
  }
}

/** A loopback port that nothing listens on: connections are refused. */
export async function refusedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

/** An old and a new upstream, closed when the test ends. */
export async function startPair(t: { teardown(fn: () => unknown): void }): Promise<{ oldUp: TestUpstream, newUp: TestUpstream }> {
  const oldUp = await TestUpstream.start('old')
  const newUp = await TestUpstream.start('new')
  t.teardown(() => Promise.all([oldUp.close(), newUp.close()]))
  return { oldUp, newUp }
}

/** An upstream that promises 1,000 bytes, sends a few, then drops the connection. */
export async function dyingUpstream(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const sockets = new Set<Socket>()
  const dying = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
    res.write('{"partial":')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  dying.on('connection', s => sockets.add(s))
  await new Promise<void>(r => dying.listen(0, '127.0.0.1', r))
  t.teardown(() => { for (const s of sockets) s.destroy(); dying.close() })
  return `http://127.0.0.1:${(dying.address() as AddressInfo).port}`
}
