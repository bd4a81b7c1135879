// What every forked bench child shares: listen on a free loopback port, tell the parent which,
// and exit when the parent goes away (so a crashed bench never leaves servers behind).
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ChildReady { port: number }

export function serveForParent(server: Server): void {
  if (!process.send) throw new Error('run this file through bench/run.ts (it expects an IPC channel to its parent)')
  process.on('disconnect', () => process.exit(0))
  // Exiting rather than dying by the signal writes a --cpu-prof profile.
  process.once('SIGTERM', () => process.exit(0))
  server.listen(0, '127.0.0.1', () => {
    const ready: ChildReady = { port: (server.address() as AddressInfo).port }
    process.send!(ready)
  })
}
