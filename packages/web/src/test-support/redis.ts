import { Redis } from 'ioredis'
import { describe, test } from 'vitest'

/** Where the Redis tests connect: `EVERGREEN_TEST_REDIS_URL`, or a local server by default. */
export const redisUrl = process.env.EVERGREEN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Whether Redis at {@link redisUrl} answers PING within 2 s. */
export async function redisAvailable(): Promise<boolean> {
  const client = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

const available = await redisAvailable()

/**
 * `describe` for suites that need a real Redis, like describePostgres: runs them when Redis
 * answers; fails in CI (`CI=true`) when it doesn't, skips with a warning on a developer machine.
 */
export function describeRedis(name: string, fn: () => void): void {
  if (available) return void describe(name, fn)
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('Redis is reachable', () => {
        throw new Error(`Redis is required in CI at ${redisUrl} (set EVERGREEN_TEST_REDIS_URL)`)
      })
    })
    return
  }
  console.warn(`Redis not reachable at ${redisUrl}: skipping ${name}`)
  describe.skip(name, fn)
}
