import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe, test } from 'vitest'

/**
 * Where the PostgreSQL tests connect: `EVERGREEN_TEST_DATABASE_URL`, or a local trust-auth
 * server by default.
 */
export const postgresUrl = process.env.EVERGREEN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** The URL with any password masked, for messages. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '<unparseable EVERGREEN_TEST_DATABASE_URL>'
  }
}

/** Whether PostgreSQL at {@link postgresUrl} accepts a connection within 2 s. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2000 })
  // A server that drops the connection after the handshake emits 'error' on the client.
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

// Checked once per test file at import: ESM top-level await, so describePostgres can decide
// synchronously while vitest collects the tests.
const available = await postgresAvailable()

/**
 * `describe` for suites that need a real PostgreSQL. Runs them when the server answers. When it
 * doesn't: fails in CI (`CI=true`), where a silently skipped store suite would pass a release
 * that was never tested against PostgreSQL; skips with a warning on a developer machine.
 *
 * @example
 * describePostgres('PostgresStore', () => { test('…', async () => { … }) })
 */
export function describePostgres(name: string, fn: () => void): void {
  if (available) {
    describe(name, fn)
    return
  }
  const where = redactedUrl(postgresUrl)
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('PostgreSQL is reachable', () => {
        throw new Error(`PostgreSQL is required in CI at ${where} (set EVERGREEN_TEST_DATABASE_URL)`)
      })
    })
    return
  }
  console.warn(`PostgreSQL not reachable at ${where}: skipping ${name}`)
  describe.skip(name, fn)
}

/** A schema name no other test uses: `eg_test_<12 hex>`. */
export function freshSchemaName(): string {
  return `eg_test_${randomBytes(6).toString('hex')}`
}

/** Drops `schema` and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new TypeError(`refusing to drop schema ${JSON.stringify(schema)}`)
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}
