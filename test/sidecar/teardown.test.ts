import t from 'tap'
import { startOrTearDown, Teardown } from '../../src/sidecar/teardown.ts'
import { captureLog } from '../helpers/sidecar.ts'

t.test('a failed start closes what it opened, last first, and the error goes on', async t => {
  const { log } = captureLog()
  const closed: string[] = []
  await t.rejects(startOrTearDown(log, async opened => {
    opened.add('redis', () => { closed.push('redis') })
    opened.add('proxy port', async () => { closed.push('proxy port') })
    throw new Error('listen EADDRINUSE 127.0.0.1:9090')
  }), { message: 'listen EADDRINUSE 127.0.0.1:9090' })
  t.same(closed, ['proxy port', 'redis'])
})

t.test('a successful start closes nothing', async t => {
  const { log } = captureLog()
  const closed: string[] = []
  t.equal(await startOrTearDown(log, async opened => { opened.add('redis', () => closed.push('redis')); return 'started' }), 'started')
  t.same(closed, [])
})

t.test('a step that cannot close is logged, and the others still close', async t => {
  const { log, logs } = captureLog()
  const closed: string[] = []
  const opened = new Teardown()
  opened.add('redis', () => closed.push('redis'))
  opened.add('the state store', () => { throw new Error('already closed') })
  await opened.run(log)
  t.same(closed, ['redis'])
  t.ok(logs.some(l => l.includes('cannot close the state store after a failed start') && l.includes('already closed')))
  await opened.run(log)
  t.same(closed, ['redis'], 'each step runs once')
})
