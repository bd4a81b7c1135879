// A TCP relay in front of a real service (Redis) that a test can cut and restore,
// to simulate an outage without touching the service other tests share.
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export class TcpRelay {
  #server: Server | undefined
  #sockets = new Set<Socket>()
  #target: { host: string, port: number }
  port = 0

  constructor(target: { host: string, port: number }) {
    this.#target = target
  }

  async start(): Promise<void> {
    const server = createServer(client => {
      const upstream = connect(this.#target.port, this.#target.host)
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>(resolve => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
    this.#server = server
  }

  /** Drops every connection and stops listening: the service looks dead. */
  async cut(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => this.#server!.close(() => resolve()))
  }
}
