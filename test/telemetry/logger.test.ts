import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger, safeHeaders } from '../../src/telemetry/logger.ts'

function capture(env: string | undefined, level?: string) {
  const lines: string[] = []
  const saved = process.env['LOG_LEVEL']
  if (env === undefined) delete process.env['LOG_LEVEL']
  else process.env['LOG_LEVEL'] = env
  const log = createLogger({ level, destination: new Writable({ write(c: Buffer, _e, done) { lines.push(String(c)); done() } }) })
  if (saved === undefined) delete process.env['LOG_LEVEL']
  else process.env['LOG_LEVEL'] = saved
  return { log, lines }
}

t.test('the level comes from the option, then LOG_LEVEL, then info', async t => {
  t.equal(capture(undefined).log.level, 'info')
  t.equal(capture('warn').log.level, 'warn')
  t.equal(capture('warn', 'debug').log.level, 'debug')
})

t.test('credential headers are redacted by name; others pass', async t => {
  t.same(safeHeaders({ authorization: 'Bearer x', 'X-Api-Key': 'k', 'x-auth-token': 't', 'x-client-secret': 's', 'db-password': 'p', accept: 'json' }),
    { authorization: '[redacted]', 'X-Api-Key': '[redacted]', 'x-auth-token': '[redacted]', 'x-client-secret': '[redacted]', 'db-password': '[redacted]', accept: 'json' })
  const { log, lines } = capture(undefined)
  log.info({ req: { method: 'GET', url: '/x' } }, 'no headers')
  log.info({ headers: { cookie: 'c=1', host: 'h' } }, 'headers')
  t.match(JSON.parse(lines[0]!), { req: { method: 'GET', url: '/x' } })
  t.match(JSON.parse(lines[1]!), { headers: { cookie: '[redacted]', host: 'h' } })
})
