// Redis for tests: every test gets a migration name of its own, and its keys are deleted after.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { forgetMigration as forget } from '../../src/state/redis/connect.ts'

/** The tests' Redis: REDIS_URL as the test run was given it (see test-env.ts). */
export const REDIS_URL = process.env['DUALREAD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379'

/** Deletes every key of a migration. */
export async function forgetMigration(migration: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  await forget(redis, migration)
  redis.disconnect()
}

/** A fresh migration name whose Redis keys are removed when the test ends. */
export function redisMigration(t: { teardown(fn: () => unknown): void }, prefix = 'test'): string {
  const migration = `${prefix}-${randomUUID()}`
  t.teardown(() => forgetMigration(migration))
  return migration
}
