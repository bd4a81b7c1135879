import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Dispatcher } from 'undici'
import { BoundedPool } from '../../src/connections/bounded-pool.ts'

t.test('a request whose handler throws at the end gives its connection back once', async t => {
  const server = createServer((_req, res) => res.end('ok'))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const pool = new BoundedPool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { side: 'old', role: 'reads', connections: 1, timeoutMs: 1000, onRefused: () => undefined })
  t.teardown(() => pool.close())
  const dispatcher = pool.waiting(1000)
  // undici reports a throw from the end handler as an error too: after the end, so two endings.
  const error = await new Promise<Error>(resolve => {
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd() { throw new Error('the consumer failed') },
      onResponseError(_controller, err) { resolve(err) },
    }
    dispatcher.dispatch({ path: '/', method: 'GET' }, handler)
  })
  t.equal(error.message, 'the consumer failed')
  t.same(pool.budget.reading(), { size: 1, inUse: 0, waiting: 0 }, 'released once, not twice')
  const next = await dispatcher.request({ path: '/', method: 'GET' })
  t.equal(await next.body.text(), 'ok', 'the connection serves the next request')
  t.same(pool.budget.reading(), { size: 1, inUse: 0, waiting: 0 })
})
