// Clients that hold a proxy's upstream connections: each asks for a large answer and never
// reads it, so the proxy's connection to the upstream stays busy (its body cannot finish).
import { connect, type Socket } from 'node:net'

/** Larger than every socket buffer on the way (client, proxy and upstream, on loopback). */
export const LARGE_ANSWER = Buffer.alloc(64 * 1024 * 1024, 'x')

export class SlowReaders {
  #sockets: Socket[] = []

  /** Opens `count` readers of `path` through the proxy at `proxyUrl`. */
  open(proxyUrl: string, path: string, count: number): void {
    const { hostname, port } = new URL(proxyUrl)
    for (let i = 0; i < count; i++) {
      const socket = connect(Number(port), hostname)
      socket.on('error', () => undefined)
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`)
      socket.pause() // never read: the answer backs up to the upstream
      this.#sockets.push(socket)
    }
  }

  /** Hangs up: the proxy aborts the upstream reads and gets its connections back. */
  close(): void {
    for (const s of this.#sockets) s.destroy()
    this.#sockets = []
  }
}
