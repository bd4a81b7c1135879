import t from 'tap'
import { ConditionLog, type Condition } from '../../src/telemetry/condition-log.ts'
import { captureLog, eventually } from '../helpers/sidecar.ts'

const breakerOpen = (): Condition => ({
  fields: { from: 'old', to: 'new' },
  began: 'reads of old fall back to new while its breaker is open',
  summary: (n, s) => `${n} reads fell back while the old breaker was open (${s} s)`,
})
const redisDown = (): Condition => ({
  fields: {},
  began: 'change stream unavailable',
  summary: (n, s) => `${n} writes not announced in ${s} s`,
  ended: n => `change stream recovered after ${n} writes`,
})

function setup() {
  let now = 1_000_000
  const { log, logs } = captureLog()
  const conditions = new ConditionLog(log, { now: () => now })
  t.teardown(() => conditions.close())
  const lines = () => logs.map(l => JSON.parse(l) as { msg: string, count?: number, seconds?: number, total?: number, latest?: unknown, level: number })
  return { conditions, lines, advance: (ms: number) => { now += ms } }
}

t.test('thousands of events under one condition are one line at once and one summary per interval, with the right counts', async t => {
  const { conditions, lines, advance } = setup()
  for (let i = 0; i < 5000; i++) {
    conditions.event('old:open', breakerOpen, { error: `e${i}` })
    advance(6) // 5,000 events over 30 s
  }
  conditions.close()
  const out = lines()
  t.ok(out.length <= 5, `${out.length} lines for 5,000 events`)
  t.match(out[0], { msg: 'reads of old fall back to new while its breaker is open', from: 'old', error: 'e0', level: 40 })
  const summaries = out.slice(1)
  t.ok(summaries.every(l => /reads fell back while the old breaker was open/.test(l.msg)))
  t.equal(1 + summaries.reduce((n, l) => n + l.count!, 0), 5000, 'the first line and the summaries account for every event')
  t.ok(summaries.slice(0, -1).every(l => l.seconds! >= 10), 'no summary before its interval is up')
  t.match(summaries.at(-1), { latest: { error: 'e4999' } }, 'a summary carries the latest detail')
})

t.test('a condition with no event for a whole interval is over: its next event begins it again', async t => {
  const { conditions, lines, advance } = setup()
  conditions.event('k', breakerOpen)
  conditions.event('k', breakerOpen)
  advance(10_000)
  conditions.flush()
  t.match(lines().map(l => [l.msg, l.count]), [['reads of old fall back to new while its breaker is open'], [/^1 reads fell back/, 1]])
  conditions.flush()
  advance(10_000)
  conditions.flush() // quiet for an interval
  conditions.event('k', breakerOpen)
  t.equal(lines().length, 3)
  t.match(lines()[2], { msg: 'reads of old fall back to new while its breaker is open' }, 'logged as a new beginning')
  advance(1000)
  conditions.flush()
  t.equal(lines().length, 3, 'nothing due within the interval')
})

t.test('a condition with an end line holds until it ends, then says so with its total', async t => {
  const { conditions, lines, advance } = setup()
  conditions.end('redis') // not holding: nothing
  conditions.event('redis', redisDown)
  advance(30_000)
  conditions.flush()
  t.equal(lines().length, 1, 'quiet, but still holding: no line, not forgotten')
  conditions.event('redis', redisDown) // due: summarized at once
  advance(2000)
  conditions.event('redis', redisDown)
  conditions.end('redis')
  t.match(lines().map(l => [l.msg, l.level]), [
    ['change stream unavailable', 40], ['1 writes not announced in 30 s', 40], ['1 writes not announced in 2 s', 40], ['change stream recovered after 3 writes', 30],
  ], 'what was not summarized yet is, before the end line')
  t.equal(lines()[3]!.total, 3)
  conditions.event('redis', redisDown)
  t.equal(lines().at(-1)!.msg, 'change stream unavailable', 'after its end it can begin again')
})

t.test('without an injected clock, a timer logs the due summaries', async t => {
  const { log, logs } = captureLog()
  const conditions = new ConditionLog(log, { intervalMs: 20 })
  t.teardown(() => conditions.close())
  conditions.event('k', breakerOpen)
  conditions.event('k', breakerOpen)
  const out = await eventually(() => logs.join(''), l => l.includes('1 reads fell back'))
  t.match(out, /"count":1/)
  await eventually(() => logs.length, () => false, 100) // quiet intervals: the condition ends, the timer stops
  conditions.end('k')
  t.equal(logs.length, 2, 'nothing more was logged')
})
