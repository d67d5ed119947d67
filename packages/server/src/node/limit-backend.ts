import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Logger } from 'pino'
import { RateLimiterPostgres, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { memoryLimitBackend, type Counter, type CounterOptions, type LimitBackend } from '../http/limit-backend.js'
import type { Settings } from '../settings.js'

/** The PostgreSQL table rate-limiter-flexible keeps its counters in (its own schema). */
export const RATE_LIMIT_TABLE = 'evergreen_rate_limits'

// A limit check sits in front of every guarded request: a backend that hangs must fail fast
// into the limit's fallback, not hold the request. 1 s is far above a healthy round trip
// (< 1 ms on a LAN) and well below any client's timeout.
const BACKEND_TIMEOUT_MS = 1000

/**
 * Opens where the limits count, from the settings: Redis when `EVERGREEN_REDIS_URL` is set (it
 * wins over PostgreSQL: a Redis round trip is cheaper than an upsert), else PostgreSQL when the
 * store is PostgreSQL, else this process's memory (SQLite; with `--workers`, each process on its share). Never fails on an
 * unreachable backend: the limits' own fallbacks handle that per request, and the service can
 * start while Redis restarts.
 */
export async function openLimitBackend(settings: Settings, logger: Logger): Promise<LimitBackend> {
  if (settings.redisUrl) return await redisBackend(settings.redisUrl, settings.issuer, logger)
  if (settings.databaseUrl) return postgresBackend(settings.databaseUrl, settings.issuer)
  return memoryLimitBackend(settings.workers)
}

/**
 * Keys are hashed with the issuer: a fixed length whatever the email or address (the PostgreSQL
 * table's key is varchar(255)), no email or IP address in plain text in a shared store, and two
 * deployments sharing one Redis (staging, production) never share a budget.
 */
function keyHasher(issuer: string): (key: string) => string {
  return (key) => createHash('sha256').update(issuer).update('\0').update(key).digest('base64url')
}

function hashedCounter(limiter: RateLimiterAbstract, hash: (key: string) => string): Counter {
  return {
    consume: (key) => limiter.consume(hash(key)),
    get: (key) => limiter.get(hash(key)),
    reward: (key) => limiter.reward(hash(key), 1),
    delete: (key) => limiter.delete(hash(key)),
  }
}

async function redisBackend(url: string, issuer: string, logger: Logger): Promise<LimitBackend> {
  const client = new Redis(url, {
    // Fail at once while disconnected instead of queueing commands behind a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: BACKEND_TIMEOUT_MS,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 5000),
  })
  let loggedAt = -Infinity
  // Without a listener an 'error' event would crash the process; reconnects are ioredis's job.
  client.on('error', (err) => {
    const t = performance.now()
    if (t - loggedAt < 60_000) return
    loggedAt = t
    logger.warn({ err }, 'rate-limit Redis connection error')
  })
  // Wait (briefly) for the connection: a node that serves before Redis is ready would count its
  // first requests in its own memory, the per-node fallback, while Redis is in fact fine.
  if (client.status !== 'ready') {
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000)
      client.once('ready', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    if (!ready) logger.warn('rate-limit Redis not ready at start: limits fall back until it is (see the Security section of the README)')
  }
  const hash = keyHasher(issuer)
  return {
    kind: 'redis',
    counter: (o: CounterOptions) =>
      hashedCounter(
        new RateLimiterRedis({ storeClient: client, points: o.points, duration: o.durationSeconds, keyPrefix: `evergreen:rl:${o.name}`, rejectIfRedisNotReady: true }),
        hash,
      ),
    async close() {
      await client.quit().catch(() => client.disconnect())
    },
  }
}

async function postgresBackend(url: string, issuer: string): Promise<LimitBackend> {
  // Its own small pool: a limit check must not wait behind the store's queries, nor they behind it.
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: BACKEND_TIMEOUT_MS, statement_timeout: BACKEND_TIMEOUT_MS })
  pool.on('error', () => {})
  // rate-limiter-flexible's own table shape. Created here rather than by each limiter, and under a
  // transaction-scoped advisory lock: CREATE TABLE IF NOT EXISTS is not safe against itself, and
  // two nodes starting together failed with `type "evergreen_rate_limits" already exists`.
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('${RATE_LIMIT_TABLE}'))`)
    await client.query(`CREATE TABLE IF NOT EXISTS ${RATE_LIMIT_TABLE} (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
  const hash = keyHasher(issuer)
  return {
    kind: 'postgres',
    counter: (o: CounterOptions) =>
      hashedCounter(
        new RateLimiterPostgres({
          storeClient: pool,
          storeType: 'pool',
          tableName: RATE_LIMIT_TABLE,
          tableCreated: true,
          // Deletes rows expired for an hour, hourly (an unref'd timer).
          clearExpiredByTimeout: true,
          points: o.points,
          duration: o.durationSeconds,
          keyPrefix: o.name,
        }),
        hash,
      ),
    close: () => pool.end(),
  }
}
