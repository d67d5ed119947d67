import Database from 'better-sqlite3'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../test-support/postgres.js'
import { PostgresStore } from './postgres.js'
import { SqliteStore } from './sqlite.js'
import type { AuditEvent, Store, UserRecord } from './types.js'

// Migration 5 recomputes email_lower, which older versions filled with Unicode-folding
// toLowerCase(): a Kelvin-sign address stored as "kate@…" must stop matching kate@….

const KELVIN = '\u212Aate@example.com'
const user: UserRecord = { id: 'u1', email: KELVIN, name: null, password_hash: null, created_at: 1, disabled_at: null }
const audit: AuditEvent = { id: 'e1', type: 'user.created', at: 1, session_id: null, user_id: 'u1', client_id: null, ip: null, user_agent: null, data: {} }

async function expectRecomputed(store: Store) {
  expect(await store.getUserByEmail('kate@example.com')).toBeUndefined()
  expect((await store.getUserByEmail(KELVIN))?.id).toBe('u1')
}

describe('email_lower migration on SQLite', () => {
  test('a Unicode-folded email_lower is recomputed as ASCII-only lowercase', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'evergreen-email-')), 'evergreen.db')
    const store = new SqliteStore(file)
    await store.migrate()
    await store.createUser(user, audit)
    // The state an older version left behind.
    const raw = new Database(file)
    raw.prepare('UPDATE users SET email_lower = ? WHERE id = ?').run(KELVIN.toLowerCase(), 'u1')
    raw.prepare('DELETE FROM schema_migrations WHERE version = 5').run()
    raw.close()
    expect((await store.getUserByEmail('kate@example.com'))?.id).toBe('u1')
    await store.migrate()
    await expectRecomputed(store)
    await store.close()
  })
})

describePostgres('email_lower migration on PostgreSQL', () => {
  const schema = freshSchemaName()
  afterAll(async () => {
    await dropSchema(postgresUrl, schema)
  })
  test('a Unicode-folded email_lower is recomputed as ASCII-only lowercase', async () => {
    const store = new PostgresStore({ connectionString: postgresUrl, schema, max: 2 })
    await store.migrate()
    await store.createUser(user, audit)
    const raw = new pg.Client({ connectionString: postgresUrl, options: `-c search_path="${schema}"` })
    await raw.connect()
    await raw.query('UPDATE users SET email_lower = $1 WHERE id = $2', [KELVIN.toLowerCase(), 'u1'])
    await raw.query('DELETE FROM schema_migrations WHERE version = 5')
    await raw.end()
    expect((await store.getUserByEmail('kate@example.com'))?.id).toBe('u1')
    await store.migrate()
    await expectRecomputed(store)
    await store.close()
  })
})
