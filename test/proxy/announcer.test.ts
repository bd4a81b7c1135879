// Write announcements: retried while the change stream is away, bounded, and given up on loudly.
import t from 'tap'
import { WriteAnnouncer } from '../../src/proxy/announcer.ts'
import { ConditionLog } from '../../src/telemetry/condition-log.ts'
import { captureLog } from '../helpers/sidecar.ts'

const write = (id: string) => ({ resourceType: 'alert-rule', tenant: 'acme', id, at: Date.now() })

t.test('an announcement is retried until the change stream answers', async t => {
  const appended: string[] = []
  let failures = 2
  const { log, logs } = captureLog()
  // No interval: every event after the first is its own summary line, so each line's wording is seen.
  const announcer = new WriteAnnouncer({ append: async c => { if (failures-- > 0) throw new Error('redis down'); appended.push(c.id!) } }, new ConditionLog(log, { intervalMs: 0 }))
  await announcer.announce(write('a'))
  t.same(appended, ['a'], 'it reached the stream after two failures')
  t.ok(logs.some(l => l.includes('retrying until it answers')))
  t.ok(logs.some(l => l.includes('change stream recovered')))
})

t.test('past the bound of waiting writes, or the give-up time, or on stop, a write is left to the full scan, and said', async t => {
  const { log, logs } = captureLog()
  const announcer = new WriteAnnouncer({ append: async () => { throw new Error('redis down') } }, new ConditionLog(log, { intervalMs: 0 }), { maxPending: 1, giveUpMs: 50 })
  const first = announcer.announce(write('a'))
  await announcer.announce(write('b'))
  t.ok(logs.some(l => l.includes('not announced to the sync loop in time')), 'the second is given up on at once: one is already waiting')
  await first
  t.pass('the first gave up after giveUpMs')
  const stopping = announcer.announce({ ...write('c'), id: undefined })
  announcer.close()
  await stopping
  t.pass('a stopped announcer lets what waits go')
  t.ok(logs.some(l => l.includes('more writes were not announced')), 'give-ups after the first are counted')
  t.ok(logs.some(l => l.includes('more writes could not be announced to the sync loop yet')))
})
