import BetterSqlite3 from 'better-sqlite3'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { createTestService, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { hashSecret } from '../crypto/hash.js'
import { SqliteStore } from './sqlite.js'

// docs/architecture.md "Refresh rotation": on SQLite the rotations of one event-loop turn share
// one transaction (each in its own SAVEPOINT) and are answered only after its COMMIT.

const services: TestService[] = []
let blocker: BetterSqlite3.Database | undefined
afterEach(async () => {
  if (blocker?.inTransaction) blocker.exec('ROLLBACK')
  blocker?.close()
  blocker = undefined
  for (const s of services.splice(0)) await s.close()
})

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r))
}
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'evergreen-group-')), 'evergreen.db')

test('a group of refreshes is answered only once its commit is durable: none before, all after', async () => {
  const file = tempFile()
  const svc = await createTestService({ store: new SqliteStore(file) })
  services.push(svc)
  const { userId, clientId } = await seedUserAndClient(svc)
  const issued = await Promise.all(Array.from({ length: 6 }, () => mint(svc, userId, clientId)))

  // Another connection holds the write lock, so the group's BEGIN IMMEDIATE waits.
  blocker = new BetterSqlite3(file)
  blocker.exec('BEGIN IMMEDIATE')
  let settled = 0
  const pending = issued.map((t) => {
    const p = svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: t.refresh_token })
    void p.finally(() => settled++)
    return p
  })
  await turns(200)
  expect(settled).toBe(0)
  // Nothing of the group is visible to another connection yet.
  const spent = blocker.prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE spent_at IS NOT NULL').get() as { n: number }
  expect(spent.n).toBe(0)

  blocker.exec('COMMIT')
  const answers = await Promise.all(pending)
  expect(answers.map((r) => r.status)).toEqual(issued.map(() => 200))
  const reader = new BetterSqlite3(file, { readonly: true })
  try {
    const row = reader.prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE spent_at IS NOT NULL').get() as { n: number }
    expect(row.n).toBe(issued.length)
    const audit = reader.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'refresh.succeeded'").get() as { n: number }
    expect(audit.n).toBe(issued.length)
  } finally {
    reader.close()
  }
})

test('two stores on one file (two processes of --workers) rotating the same tokens at once: one rotation each, the others replay it', async () => {
  const file = tempFile()
  const a = await createTestService({ store: new SqliteStore(file) })
  services.push(a)
  const b = await createTestService({ store: new SqliteStore(file) })
  services.push(b)
  const { userId, clientId } = await seedUserAndClient(a)
  const issued = await Promise.all(Array.from({ length: 4 }, () => mint(a, userId, clientId)))

  // Each token presented twice to each store in the same turn: four presenters, one rotation.
  const refresh = (svc: TestService, token: string) =>
    svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: token })
  const answers = await Promise.all(issued.flatMap((t) => [refresh(a, t.refresh_token), refresh(b, t.refresh_token), refresh(a, t.refresh_token), refresh(b, t.refresh_token)]))
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200))
  const bodies = (await Promise.all(answers.map((r) => r.json()))) as { refresh_token: string }[]
  for (let i = 0; i < issued.length; i++) {
    const successors = new Set(bodies.slice(i * 4, i * 4 + 4).map((x) => x.refresh_token))
    // The grace window hands every concurrent presenter the winner's successor.
    expect(successors.size).toBe(1)
    const session = (await (await a.admin('GET', `/sessions/${issued[i]!.session_id}`)).json()) as { generation: number; active: boolean }
    expect(session).toMatchObject({ generation: 1, active: true })
  }
})

// docs/architecture.md "Performance budget": the hot read reuses a client's parsed record only
// while its row is unchanged, so a change reaches the next refresh as it would without it.
test('a client change made by another process (another store on the file) holds at the next refresh of this one', async () => {
  const file = tempFile()
  const a = await createTestService({ store: new SqliteStore(file) })
  services.push(a)
  const b = await createTestService({ store: new SqliteStore(file) })
  services.push(b)
  const { userId, clientId } = await seedUserAndClient(a, { allowed_scopes: ['read', 'write'] })
  const issued = await mint(a, userId, clientId, { scope: 'read write' })
  const refresh = async (token: string) => {
    const res = await b.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: token })
    expect(res.status).toBe(200)
    return (await res.json()) as { refresh_token: string; scope: string }
  }
  const first = await refresh(issued.refresh_token)
  expect(first.scope).toBe('read write')
  // Narrowed through the other store: b's next rotation must see it, not its parsed copy.
  expect((await a.admin('PATCH', `/clients/${clientId}`, { allowed_scopes: ['read'] })).status).toBe(200)
  const second = await refresh(first.refresh_token)
  expect(second.scope).toBe('read')
  expect((await a.admin('PATCH', `/clients/${clientId}`, { allowed_scopes: ['read', 'write'] })).status).toBe(200)
  expect((await refresh(second.refresh_token)).scope).toBe('read write')
  // Deleted through a: b refuses the token at once.
  expect((await a.admin('DELETE', `/clients/${clientId}`)).status).toBeLessThan(300)
  const refused = await b.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: second.refresh_token })
  expect(refused.status).toBeGreaterThanOrEqual(400)
})

test('the parsed client the hot read hands out is frozen, so no request can change another\'s', async () => {
  const store = new SqliteStore(tempFile())
  const svc = await createTestService({ store })
  services.push(svc)
  const { userId, clientId } = await seedUserAndClient(svc, { allowed_scopes: ['read'] })
  const issued = await mint(svc, userId, clientId)
  const { hashSecret } = await import('../crypto/hash.js')
  const first = (await store.findRefreshToken(hashSecret(issued.refresh_token)))!
  const again = (await store.findRefreshToken(hashSecret(issued.refresh_token)))!
  expect(again.client).toBe(first.client)
  expect(Object.isFrozen(first.client) && Object.isFrozen(first.client.allowed_scopes)).toBe(true)
  expect(() => (first.client.allowed_scopes as string[]).push('admin')).toThrow(TypeError)
})

// A group needs no SAVEPOINT per rotation (store/sqlite.ts rotateTransaction): the session's
// compare-and-set comes first, so a rotation that loses writes nothing, and one that finds its
// token spent although the session did not move (an invariant no code path breaks; here another
// connection breaks it) rolls the group back, and each rotation is retried on its own.
test('a rotation that finds its token spent under an unmoved session rolls back alone; the rest of its group rotates', async () => {
  const file = tempFile()
  const svc = await createTestService({ store: new SqliteStore(file) })
  services.push(svc)
  const { userId, clientId } = await seedUserAndClient(svc)
  const issued = await Promise.all(Array.from({ length: 4 }, () => mint(svc, userId, clientId)))

  blocker = new BetterSqlite3(file)
  blocker.exec('BEGIN IMMEDIATE')
  const pending = issued.map((t) => svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: t.refresh_token }))
  // The four have read their tokens as unspent and wait for the write lock as one group.
  await turns(200)
  blocker.prepare('UPDATE refresh_tokens SET spent_at = ? WHERE hash = ?').run(svc.clock.now(), hashSecret(issued[1]!.refresh_token))
  blocker.exec('COMMIT')

  const answers = await Promise.all(pending)
  expect(answers.map((r) => r.status)).toEqual([200, 400, 200, 200])
  const generations = blocker.prepare('SELECT id, generation FROM sessions WHERE id IN (?, ?, ?, ?)').all(...issued.map((t) => t.session_id)) as { id: string; generation: number }[]
  const byId = new Map(generations.map((g) => [g.id, g.generation]))
  expect(issued.map((t) => byId.get(t.session_id))).toEqual([1, 0, 1, 1])
  // Nothing of the rolled-back rotation remains: no successor and no refresh.succeeded event for it.
  const written = blocker.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'refresh.succeeded' AND session_id = ?").get(issued[1]!.session_id) as { n: number }
  expect(written.n).toBe(0)
  const tokens = blocker.prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = ?').get(issued[1]!.session_id) as { n: number }
  expect(tokens.n).toBe(1)
})
