// What recording the fleet's evidence costs: per shadow pair (in memory, in the shadow stage,
// after the client has its answer) and per tick (once a second: a second's counts added to
// Redis and the gate window read back), at a given rate of shadow pairs over a few slices.
import { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import { EvidenceRecorder } from '../src/evidence/recorder.ts'
import { RedisEvidenceStore } from '../src/evidence/redis-store.ts'
import { policySchema } from '../src/policy/schema.ts'
import { forgetMigration, keyPrefix } from '../src/state/redis/connect.ts'
import { createLogger } from '../src/telemetry/logger.ts'

const SLICES = 10
const TICKS = 20

export interface EvidenceCost {
  observeNs: number
  tickP50Ms: number
  tickMaxMs: number
  pairsPerTick: number
}

export async function measureEvidenceCost(redisUrl: string, pairsPerSecond: number): Promise<EvidenceCost> {
  const redis = new Redis(redisUrl)
  const migration = `bench-${randomUUID()}`
  const policy = policySchema.parse({
    version: 1, authority: 'old',
    upstreams: { old: { url: 'http://127.0.0.1:1' }, new: { url: 'http://127.0.0.1:2' } },
    rules: [{ name: 'default', primary: 'old' }],
  })
  let now = Date.now()
  const recorder = new EvidenceRecorder({ store: new RedisEvidenceStore(redis, keyPrefix(migration)), replica: 'bench', log: createLogger({ level: 'silent' }), policy: () => policy, clock: () => now })
  const observe = (i: number) => recorder.observe({ rule: 'default', resourceType: `type-${i % SLICES}`, outcome: i % 50 === 0 ? 'cosmetic' : 'match', latencyMs: { old: 2 + (i % 7), new: 2 + (i % 5) } })
  try {
    const n = 200_000
    const started = process.hrtime.bigint()
    for (let i = 0; i < n; i++) observe(i)
    const observeNs = Number(process.hrtime.bigint() - started) / n
    await recorder.tick()
    const ticks: number[] = []
    for (let t = 0; t < TICKS; t++) {
      now += 1000
      for (let i = 0; i < pairsPerSecond; i++) observe(i)
      const tickStarted = performance.now()
      await recorder.tick()
      ticks.push(performance.now() - tickStarted)
    }
    ticks.sort((a, b) => a - b)
    return { observeNs, tickP50Ms: ticks[Math.floor(TICKS / 2)]!, tickMaxMs: ticks.at(-1)!, pairsPerTick: pairsPerSecond }
  } finally {
    await recorder.close()
    await forgetMigration(redis, migration)
    redis.disconnect()
  }
}
