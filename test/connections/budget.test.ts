import t from 'tap'
import { ConnectionBudget, QueueTimeoutError } from '../../src/connections/budget.ts'

function budget(size: number) {
  const refusals: QueueTimeoutError[] = []
  let counted = 0
  const b = new ConnectionBudget('old', 'reads', size, () => counted++)
  return { b, refusals, counted: () => counted, refuse: (err: QueueTimeoutError) => refusals.push(err) }
}

t.test('connections are granted while free; a waiter gets the next one given back, in arrival order', async t => {
  const { b, refuse } = budget(2)
  const granted: string[] = []
  b.take(1000, () => granted.push('a'), refuse)
  b.take(1000, () => granted.push('b'), refuse)
  t.same(granted, ['a', 'b'], 'granted at once')
  const waited = [new Promise<void>(resolve => b.take(60_000, () => { granted.push('c'); resolve() }, refuse)),
    new Promise<void>(resolve => b.take(60_000, () => { granted.push('d'); resolve() }, refuse))]
  t.same(b.reading(), { size: 2, inUse: 2, waiting: 2 })
  b.release()
  t.same(b.reading(), { size: 2, inUse: 2, waiting: 1 }, 'the released connection went straight to the first waiter')
  await waited[0]
  b.release()
  await waited[1]
  t.same(granted, ['a', 'b', 'c', 'd'])
  b.release()
  b.release()
  t.same(b.reading(), { size: 2, inUse: 0, waiting: 0 })
})

t.test('a waiter refused after its wait is counted and told which side and role stayed busy', async t => {
  const { b, refusals, counted, refuse } = budget(1)
  b.take(0, () => undefined, refuse)
  const refused = new Promise<QueueTimeoutError>(resolve => b.take(5, () => t.fail('never granted'), resolve))
  const err = await refused
  t.match(err, { name: 'QueueTimeoutError', code: 'EQUEUETIMEOUT', busy: 'all 1 read connections busy for 5 ms', message: 'the old upstream had all 1 read connections busy for 5 ms (queueTimeoutMs)' })
  b.take(0, () => t.fail('never granted'), refuse)
  t.equal(refusals.length, 1, 'with no wait, refused at once')
  t.equal(counted(), 2)
  t.same(b.reading(), { size: 1, inUse: 1, waiting: 0 })
})

t.test('a waiter that gives up leaves the queue and is never granted', async t => {
  const { b, refuse } = budget(1)
  b.take(0, () => undefined, refuse)
  const giveUp = b.take(60_000, () => t.fail('never granted'), refuse)
  t.equal(b.reading().waiting, 1)
  giveUp()
  giveUp()
  t.equal(b.reading().waiting, 0)
  b.release()
  t.same(b.reading(), { size: 1, inUse: 0, waiting: 0 }, 'the connection went back to the budget, not to the one who left')
})
