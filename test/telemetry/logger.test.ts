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
  t.match(JSON.parse(lines[0]!), { req: { method: 'GET', path: '/x' } })
  t.match(JSON.parse(lines[1]!), { headers: { cookie: '[redacted]', host: 'h' } })
})

t.test('header names that look like credentials are redacted: x-auth, sessions, keys', async t => {
  t.same(safeHeaders({ 'x-auth': 'a', 'x-session-id': 's', 'x-idempotency-key': 'k', 'set-cookie': ['c'], 'proxy-authorization': 'p', 'content-type': 'json' }),
    { 'x-auth': '[redacted]', 'x-session-id': '[redacted]', 'x-idempotency-key': '[redacted]', 'set-cookie': '[redacted]', 'proxy-authorization': '[redacted]', 'content-type': 'json' })
})

t.test('a header value in an authentication scheme is redacted whatever the header is called', async t => {
  t.same(safeHeaders({ 'x-forwarded-creds': 'Bearer abc.def', 'x-note': 'ApiKey k1', 'x-basic': 'basic plan' }),
    { 'x-forwarded-creds': '[redacted]', 'x-note': '[redacted]', 'x-basic': '[redacted]' }, 'cautious: "basic plan" reads like a credential too')
  t.same(safeHeaders({ accept: 'application/json', 'x-count': 3 }), { accept: 'application/json', 'x-count': 3 })
})

t.test('a request is logged by its path: the query string never reaches the log', async t => {
  const { log, lines } = capture(undefined)
  log.info({ req: { method: 'GET', url: '/a/b?access_token=s3cret&x=1', headers: { accept: 'json' } } }, 'r')
  t.same(JSON.parse(lines[0]!).req, { method: 'GET', path: '/a/b', headers: { accept: 'json' } })
  t.notMatch(lines[0]!, /s3cret/)
  log.info({ req: { method: 'GET' } }, 'no target')
  t.same(JSON.parse(lines[1]!).req, { method: 'GET' })
})

t.test('every line is scrubbed of scheme credentials and URL userinfo, whoever logged them', async t => {
  const { log, lines } = capture(undefined)
  log.warn({ err: new Error('upstream said: Bearer eyJ0.abc-DEF_1 is expired'), target: 'redis://:hunter2@cache:6379/0' }, 'sent Authorization: Token tok-123 and X-Api: ApiKey k/1+2=')
  const line = lines[0]!
  for (const secret of ['eyJ0.abc-DEF_1', 'hunter2', 'tok-123', 'k/1+2=']) t.notMatch(line, secret)
  const parsed = JSON.parse(line) as { msg: string, target: string, err: { message: string } }
  t.equal(parsed.msg, 'sent Authorization: Token [redacted] and X-Api: ApiKey [redacted]')
  t.equal(parsed.target, 'redis://[redacted]@cache:6379/0')
  t.equal(parsed.err.message, 'upstream said: Bearer [redacted] is expired')
})
