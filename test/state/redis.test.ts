import t from 'tap'
import { keyPrefix, sharedRedisUrl } from '../../src/state/redis/connect.ts'

t.test('shared state uses REDIS_URL first, then a redis:// sync.state, else nothing', async t => {
  t.equal(sharedRedisUrl('file:.dualread/state', { REDIS_URL: 'redis://r:6379/2' }), 'redis://r:6379/2')
  t.equal(sharedRedisUrl('redis://s:6379/0', {}), 'redis://s:6379/0')
  t.equal(sharedRedisUrl('rediss://s:6380/0', {}), 'rediss://s:6380/0')
  t.equal(sharedRedisUrl('file:.dualread/state', {}), undefined)
})

t.test('redisReady waits for a connection, or gives up', async t => {
  const { Redis } = await import('ioredis')
  const { captureLog } = await import('../helpers/sidecar.ts')
  const { connectRedis, redisReady } = await import('../../src/state/redis/connect.ts')
  const { refusedPort } = await import('../helpers/upstream.ts')
  const { REDIS_URL } = await import('../helpers/redis.ts')
  const good = connectRedis(REDIS_URL, captureLog().log)
  t.teardown(() => good.disconnect())
  t.equal(await redisReady(good), true)
  t.equal(await redisReady(good), true, 'at once when already connected')
  const dead = connectRedis(`redis://127.0.0.1:${await refusedPort()}`, captureLog().log)
  t.teardown(() => dead.disconnect())
  t.equal(await redisReady(dead, 300), false)
  t.ok(Redis)
})

t.test('all keys of one migration share a Redis Cluster hash tag', async t => {
  t.equal(keyPrefix('alerting'), 'dualread:{alerting}:')
})
