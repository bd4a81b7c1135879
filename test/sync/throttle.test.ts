import t from 'tap'
import { retryAfterMs, Throttle } from '../../src/sync/throttle.ts'

t.test('writes are held to maxWritesPerSecond', async t => {
  const throttle = new Throttle(50)
  const started = Date.now()
  for (let i = 0; i < 75; i++) await throttle.acquire(true)
  const elapsed = Date.now() - started
  t.ok(elapsed >= 400, `75 writes at 50/s after a full bucket take at least ~0.5 s (took ${elapsed} ms)`)
  const readsStarted = Date.now()
  for (let i = 0; i < 100; i++) await throttle.acquire(false)
  t.ok(Date.now() - readsStarted < 100, 'reads are not rate-limited')
})

t.test('a 429 pauses for its Retry-After; 5xx and failures back off; a slow answer slows down', async t => {
  let now = 1_000_000
  const throttle = new Throttle(1000, () => now)
  throttle.observe(200, 10)
  throttle.observe(429, 10, 2000)
  t.equal(throttle.pausedMs, 2000)
  now += 2000
  throttle.observe(429, 10)
  t.equal(throttle.pausedMs, 100, 'a 429 without Retry-After backs off')
  now += 100
  throttle.observe(503, 10)
  t.equal(throttle.pausedMs, 200, 'backoff doubles')
  now += 200
  throttle.failed()
  t.equal(throttle.pausedMs, 400)
  now += 400
  throttle.observe(200, 10)
  throttle.observe(200, 100)
  t.equal(throttle.pausedMs, 100, 'latency 10x the baseline pauses as long again')
  now += 100
  throttle.observe(503, 10)
  t.equal(throttle.pausedMs, 100, 'after a healthy answer the backoff starts again from the bottom')
})

t.test('requests wait out a pause', async t => {
  const throttle = new Throttle(100)
  throttle.observe(429, 1, 80)
  const started = Date.now()
  await throttle.acquire(false)
  t.ok(Date.now() - started >= 70, 'the next request waited for Retry-After')
})

t.test('Retry-After is read as seconds or as an HTTP date', async t => {
  t.equal(retryAfterMs('2'), 2000)
  t.equal(retryAfterMs(['1.5']), 1500)
  t.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000)
  t.equal(retryAfterMs('soon'), undefined)
  t.equal(retryAfterMs(undefined), undefined)
})
