import pg from 'pg'
import { pino } from 'pino'
import { expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../test-support/postgres.js'
import type { Settings } from '../settings.js'
import { openLimitBackend } from './limit-backend.js'

describePostgres('the PostgreSQL limit backend', () => {
  // Nodes of one deployment start together; each creates the counters' table if it is missing.
  // Concurrent CREATE TABLE IF NOT EXISTS failed with `type "evergreen_rate_limits" already exists`.
  test('eight nodes opening it at once on a fresh schema all start', async () => {
    const schema = freshSchemaName()
    const admin = new pg.Client({ connectionString: postgresUrl })
    await admin.connect()
    await admin.query(`CREATE SCHEMA "${schema}"`)
    await admin.end()
    const url = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
    const settings = { redisUrl: undefined, databaseUrl: url, issuer: 'http://evergreen.test' } as unknown as Settings
    try {
      for (let round = 0; round < 3; round++) {
        const backends = await Promise.all(Array.from({ length: 8 }, () => openLimitBackend(settings, pino({ level: 'silent' }))))
        expect(backends.map((b) => b.kind)).toEqual(Array(8).fill('postgres'))
        await Promise.all(backends.map((b) => b.close()))
        // A fresh table each round, so every round races the creation again.
        const c = new pg.Client({ connectionString: url })
        await c.connect()
        await c.query('DROP TABLE evergreen_rate_limits')
        await c.end()
      }
    } finally {
      await dropSchema(postgresUrl, schema)
    }
  })
})
