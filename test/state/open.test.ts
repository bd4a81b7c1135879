import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { openStateStore } from '../../src/state/open.ts'
import { STATE_FILE } from '../../src/state/file/state-store.ts'
import { captureLog } from '../helpers/sidecar.ts'
import { refusedPort } from '../helpers/upstream.ts'
import { REDIS_URL, redisMigration } from '../helpers/redis.ts'
import { scratchDir } from '../helpers/scratch-dir.ts'

t.test('file:PATH is a state directory relative to the working directory', async t => {
  const cwd = process.cwd()
  const dir = scratchDir(t)
  process.chdir(dir)
  t.teardown(() => process.chdir(cwd))
  const store = await openStateStore('file:.dualread/state', 'alerting', captureLog().log)
  t.equal(store.kind, 'file')
  await store.checkpoints.setCursor('team/acme', 'c')
  await store.close()
  t.ok(existsSync(join(dir, '.dualread/state', STATE_FILE)))
})

t.test('a file: URL names an absolute directory', async t => {
  const dir = scratchDir(t)
  const store = await openStateStore(pathToFileURL(join(dir, 'state')).href, 'alerting', captureLog().log)
  await store.changes.setOffset('3')
  await store.close()
  t.ok(existsSync(join(dir, 'state', STATE_FILE)))
})

t.test('redis:// opens the migration\'s state in Redis', async t => {
  const store = await openStateStore(REDIS_URL, redisMigration(t), captureLog().log)
  t.teardown(() => store.close())
  t.equal(store.kind, 'redis')
  t.equal(await store.changes.getOffset(), '0', 'ready to use at once')
})

t.test('a Redis that is not up yet still gives a store, whose calls fail until it is', async t => {
  const { logs, log } = captureLog()
  const store = await openStateStore(`redis://127.0.0.1:${await refusedPort()}`, 'alerting', log)
  t.teardown(() => store.close())
  t.equal(store.kind, 'redis')
  await t.rejects(store.changes.getOffset(), { message: /^sync state in redis: cannot read the change offset/ })
  t.ok(logs.some(l => l.includes('redis for sync state is not reachable yet')))
})

t.test('anything else is refused, saying what is accepted', async t => {
  for (const url of ['memory:', 'file:', '/var/lib/dualread', 'http://redis:6379']) {
    await t.rejects(openStateStore(url, 'alerting', captureLog().log), { message: `sync.state "${url}" is not a state store: use redis://HOST:PORT[/DB], rediss://... or file:DIRECTORY (for example file:.dualread/state)` })
  }
})
