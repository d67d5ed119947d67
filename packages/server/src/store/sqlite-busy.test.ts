import BetterSqlite3 from 'better-sqlite3'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { createTestService, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { SqliteStore } from './sqlite.js'

// docs/architecture.md "Workers": another connection (another process of `--workers`, or this
// process's admin work) holding SQLite's write lock must not stall this process. better-sqlite3
// is synchronous, so a blocking busy_timeout would sleep the whole event loop; the hot path
// instead waits on the event loop and goes on once the lock is free.

let svc: TestService | undefined
let blocker: BetterSqlite3.Database | undefined
afterEach(async () => {
  if (blocker?.inTransaction) blocker.exec('ROLLBACK')
  blocker?.close()
  await svc?.close()
  svc = blocker = undefined
})

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r))
}

test('a refresh waiting for another connection\'s write lock leaves the event loop free, then rotates', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'evergreen-busy-')), 'evergreen.db')
  const store = new SqliteStore(file)
  svc = await createTestService({ store })
  const { userId, clientId } = await seedUserAndClient(svc)
  const issued = await mint(svc, userId, clientId)
  // The hot path's connection never lets SQLite sleep the process (white-box: the pragma itself).
  expect((store as unknown as { hot: BetterSqlite3.Database }).hot.pragma('busy_timeout', { simple: true })).toBe(0)

  // Another connection takes the write lock, as another worker's transaction would.
  blocker = new BetterSqlite3(file)
  blocker.exec('BEGIN IMMEDIATE')
  let settled = false
  const pending = svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: issued.refresh_token })
  void pending.finally(() => (settled = true))
  // The event loop keeps turning (a blocking wait would hold it in one turn for busy_timeout and
  // then fail the request), and the refresh waits: it cannot complete while the lock is held.
  await turns(200)
  expect(settled).toBe(false)

  blocker.exec('COMMIT')
  const res = await pending
  expect(res.status).toBe(200)
  const body = (await res.json()) as { refresh_token: string }
  expect(body.refresh_token).not.toBe(issued.refresh_token)
  const session = await (await svc.admin('GET', `/sessions/${issued.session_id}`)).json() as { generation: number }
  expect(session.generation).toBe(1)
})

test('an admin transaction open in this process does not block a refresh\'s wait, and the refresh sees its result', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'evergreen-busy-')), 'evergreen.db')
  svc = await createTestService({ store: new SqliteStore(file) })
  const { userId, clientId } = await seedUserAndClient(svc)
  const issued = await mint(svc, userId, clientId)
  // Revoke and refresh at once: whichever takes the lock first, the refresh must not succeed on
  // a session revoked before it committed, and neither may fail with SQLITE_BUSY.
  const [revoked, refreshed] = await Promise.all([
    svc.admin('DELETE', `/sessions/${issued.session_id}`),
    svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: issued.refresh_token }),
  ])
  expect(revoked.status).toBe(200)
  expect([200, 400]).toContain(refreshed.status)
  const session = await (await svc.admin('GET', `/sessions/${issued.session_id}`)).json() as { active: boolean }
  expect(session.active).toBe(false)
  // After the revocation, the token (or its successor) is refused.
  const again = await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: issued.refresh_token })
  expect(again.status).toBe(400)
})

test('with background checkpoints, the WAL is checkpointed from the worker thread and the connections only keep a backstop', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'evergreen-busy-')), 'evergreen.db')
  const store = new SqliteStore(file, { backgroundCheckpoints: true })
  svc = await createTestService({ store })
  const hot = (store as unknown as { hot: BetterSqlite3.Database }).hot
  // The request path's connections would checkpoint inline only at 40,000 pages (~160 MB).
  expect(hot.pragma('wal_autocheckpoint', { simple: true })).toBe(40_000)
  const { userId, clientId } = await seedUserAndClient(svc)
  for (let i = 0; i < 5; i++) {
    const issued = await mint(svc, userId, clientId)
    expect((await svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: issued.refresh_token })).status).toBe(200)
  }
  const result = await store.checkpoint()
  // Every frame written so far is now in the database file (no reader held an old snapshot).
  expect(result).toBeDefined()
  expect(result!.log).toBeGreaterThan(0)
  expect(result!.checkpointed).toBe(result!.log)
})

test('without background checkpoints (the default), checkpoint() does nothing and inline checkpoints stay at 10,000 pages', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'evergreen-busy-')), 'evergreen.db')
  const store = new SqliteStore(file)
  svc = await createTestService({ store })
  expect((store as unknown as { hot: BetterSqlite3.Database }).hot.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000)
  expect(await store.checkpoint()).toBeUndefined()
})
