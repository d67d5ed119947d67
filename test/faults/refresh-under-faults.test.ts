import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import { seededRandom, startCluster, type Cluster, type NodeSlot } from '../support/fault-cluster.js'
import { TEST_ADMIN_KEY } from '../support/server-process.js'

/*
 * "Nobody let in, nothing lost", under faults: many clients keep refreshing their own sessions
 * while server processes are SIGKILLed and restarted at random moments and some answers are
 * thrown away as if the connection had died. Afterwards every session must still be alive, no
 * rotation may have been mistaken for theft, and the database must hold exactly one current
 * refresh token per session, the one its client holds, with one audit event per rotation.
 *
 * Two sizes: the bounded run inside `npm test` (a few kills, well under a minute), and the full
 * run, `npm run test:faults` (EVERGREEN_FAULTS=full). EVERGREEN_FAULTS_SEED replays a run.
 */

const FULL = process.env.EVERGREEN_FAULTS === 'full'
const SEED = Number(process.env.EVERGREEN_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31))
const SECRET = 'faults-secret-0123456789-0123456789-abcdefgh'

interface Plan {
  clients: number
  kills: number
  /** Hard stop for the client loops, whatever the kill schedule has reached. */
  deadlineMs: number
  /** Most refreshes one client makes. */
  maxRefreshesPerClient: number
  /** Probability that a client throws a 200 answer away and replays its old token. */
  dropRate: number
  /** Pause between two kills, drawn uniformly from this range. */
  killGapMs: [number, number]
  /** Time a killed node stays down before its restart begins. */
  downMs: [number, number]
}

const PG_PLAN: Plan = FULL
  ? { clients: 30, kills: 24, deadlineMs: 240_000, maxRefreshesPerClient: 5_000, dropRate: 0.1, killGapMs: [300, 1500], downMs: [0, 800] }
  : { clients: 12, kills: 4, deadlineMs: 120_000, maxRefreshesPerClient: 2_000, dropRate: 0.1, killGapMs: [300, 1200], downMs: [0, 500] }
const SQLITE_PLAN: Plan = FULL
  ? { clients: 30, kills: 20, deadlineMs: 240_000, maxRefreshesPerClient: 5_000, dropRate: 0.1, killGapMs: [300, 1500], downMs: [0, 800] }
  : { clients: 10, kills: 3, deadlineMs: 120_000, maxRefreshesPerClient: 2_000, dropRate: 0.1, killGapMs: [300, 1200], downMs: [0, 500] }

// Comfortably inside the default 30 s grace window: a client whose request died retries the SAME
// token, and a retry after the window would be (rightly) treated as reuse.
const RETRY_DEADLINE_MS = 20_000
// A request that hangs this long counts as cut off; SIGKILL normally resets the socket at once.
const REQUEST_TIMEOUT_MS = 10_000

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  // Every child is killed even when a test failed half way; then the schema and temp dirs go.
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err: unknown) => console.error(err))
})

console.log(`fault suite: ${FULL ? 'full' : 'bounded'} run, seed ${SEED} (replay with EVERGREEN_FAULTS_SEED=${SEED})`)

interface Counts {
  refreshes: number
  kills: number
  dropsRecovered: number
  /** Sends that met a dead node (cut off by a kill, refused while down, or hung) and were retried. */
  cutOffRetried: number
  sessionsLost: number
  falseReuseRevocations: number
}

/** The test's own load balancer: next live node per request; a failed request goes to the next. */
async function send(cluster: Cluster, path: string, init: () => RequestInit, onCutOff: () => void): Promise<Response> {
  const giveUp = Date.now() + RETRY_DEADLINE_MS
  for (;;) {
    const node = cluster.pick()
    if (node) {
      try {
        return await fetch(`${node.url}${path}`, { ...init(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      } catch {
        onCutOff()
      }
    }
    if (Date.now() > giveUp) throw new Error(`no node answered ${path} within ${RETRY_DEADLINE_MS} ms`)
    await new Promise((r) => setTimeout(r, node ? 20 : 100))
  }
}

async function adminJson<T>(cluster: Cluster, method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(cluster, `/admin/v1${path}`, () => ({
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }), () => {})
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`)
  return JSON.parse(text) as T
}

interface SimClient {
  sessionId: string
  token: string
  /** Rotations this client saw: distinct successors received, each exactly once. */
  rotations: number
  lost?: string
}

async function runScenario(cluster: Cluster, plan: Plan, random: () => number): Promise<{ counts: Counts; clients: SimClient[]; clientId: string }> {
  const user = await adminJson<{ id: string }>(cluster, 'POST', '/users', { email: `faults-${SEED}@example.test` })
  const client = await adminJson<{ client_id: string }>(cluster, 'POST', '/clients', {
    name: 'fault suite',
    grant_types: ['refresh_token'],
    token_endpoint_auth_method: 'none',
  })
  const clients: SimClient[] = []
  for (let i = 0; i < plan.clients; i++) {
    const minted = await adminJson<{ session_id: string; refresh_token: string }>(cluster, 'POST', '/tokens', {
      user: user.id,
      client_id: client.client_id,
      name: `fault client ${i}`,
    })
    clients.push({ sessionId: minted.session_id, token: minted.refresh_token, rotations: 0 })
  }

  const counts: Counts = { refreshes: 0, kills: 0, dropsRecovered: 0, cutOffRetried: 0, sessionsLost: 0, falseReuseRevocations: 0 }
  const deadline = Date.now() + plan.deadlineMs
  let stop = false
  const between = ([lo, hi]: [number, number]) => lo + random() * (hi - lo)
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  const refreshOnce = async (c: SimClient, token: string) => {
    const res = await send(cluster, '/oauth/token', () => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'evergreen-fault-suite' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: client.client_id, refresh_token: token }).toString(),
    }), () => counts.cutOffRetried++)
    const text = await res.text()
    if (res.status !== 200) throw new Error(`session ${c.sessionId}: refresh answered ${res.status}: ${text}`)
    return JSON.parse(text) as { refresh_token: string }
  }

  const loop = async (c: SimClient) => {
    for (let n = 0; n < plan.maxRefreshesPerClient && !stop && Date.now() < deadline; n++) {
      try {
        const old = c.token
        let answer = await refreshOnce(c, old)
        if (random() < plan.dropRate) {
          // The answer "never arrived": replay the old token, as a client whose connection died
          // does. Within the grace window it must get the very same successor.
          const again = await refreshOnce(c, old)
          if (again.refresh_token !== answer.refresh_token) throw new Error(`session ${c.sessionId}: replay after a dropped answer got a different successor`)
          counts.dropsRecovered++
          answer = again
        }
        if (answer.refresh_token === old) throw new Error(`session ${c.sessionId}: refresh returned the presented token`)
        c.token = answer.refresh_token
        c.rotations++
        counts.refreshes++
      } catch (err) {
        c.lost = err instanceof Error ? err.message : String(err)
        return
      }
      // A short, random pause keeps 30 loops from starving the nodes of the 2 shared cores.
      await sleep(between([5, 40]))
    }
  }

  const killer = async () => {
    while (counts.kills < plan.kills && Date.now() < deadline) {
      await sleep(between(plan.killGapMs))
      const live = cluster.nodes.filter((n) => n.live)
      // Never every node at once on a multi-node cluster: the round robin needs somewhere to go.
      if (live.length === 0 || (cluster.nodes.length > 1 && live.length === 1)) continue
      const victims: NodeSlot[] = [live[Math.floor(random() * live.length)]!]
      // Now and then a second node dies at the same moment.
      if (live.length > 2 && random() < 0.2) victims.push(live.find((n) => n !== victims[0])!)
      await Promise.all(victims.map(async (node) => {
        await cluster.kill(node)
        counts.kills++
        await sleep(between(plan.downMs))
        await cluster.restart(node)
      }))
    }
  }

  const killing = killer().finally(() => {
    // A little more traffic on the restarted nodes, then the clients stop by themselves.
    setTimeout(() => (stop = true), 1_000)
  })
  await Promise.all([killing, ...clients.map(loop)])
  return { counts, clients, clientId: client.client_id }
}

interface SessionBook {
  id: string
  generation: number
  revoked_at: number | null
  tokens: number
  unspent: number
  current_hash: string | null
  succeeded: number
}

// Plain SQL both stores accept: per session, its generation, its token rows, how many of them are
// unspent (and the hash of the current one), and its refresh.succeeded audit events.
const BOOKKEEPING_SQL = `SELECT s.id, s.generation, s.revoked_at,
  (SELECT count(*) FROM refresh_tokens t WHERE t.session_id = s.id) AS tokens,
  (SELECT count(*) FROM refresh_tokens t WHERE t.session_id = s.id AND t.spent_at IS NULL) AS unspent,
  (SELECT min(t.hash) FROM refresh_tokens t WHERE t.session_id = s.id AND t.spent_at IS NULL) AS current_hash,
  (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.type = 'refresh.succeeded') AS succeeded
FROM sessions s ORDER BY s.id`

async function verify(
  cluster: Cluster,
  run: { counts: Counts; clients: SimClient[]; clientId: string },
  books: SessionBook[],
  label: string,
): Promise<void> {
  const { counts, clients } = run
  const lost = clients.filter((c) => c.lost)
  counts.sessionsLost = lost.length

  // Every session still alive: active at the admin API, and its current token still refreshes.
  for (const c of clients) {
    if (c.lost) continue
    const view = await adminJson<{ active: boolean; revoked_at: number | null; generation: number }>(cluster, 'GET', `/sessions/${c.sessionId}`)
    if (!view.active || view.revoked_at !== null) {
      counts.sessionsLost++
      c.lost = `session ${c.sessionId} is not active: ${JSON.stringify(view)}`
    }
  }
  const reused = await adminJson<{ items: { session_id: string }[] }>(cluster, 'GET', '/audit?type=refresh.reused&limit=500')
  counts.falseReuseRevocations = reused.items.length
  const failed = await adminJson<{ items: { session_id: string; data: unknown }[] }>(cluster, 'GET', '/audit?type=refresh.failed&limit=500')

  console.log(
    `fault suite [${label}] seed ${SEED}: refreshes ${counts.refreshes}, kills ${counts.kills}, ` +
      `dropped responses recovered ${counts.dropsRecovered}, sends to a dead node retried ${counts.cutOffRetried}, ` +
      `sessions lost ${counts.sessionsLost}, false reuse revocations ${counts.falseReuseRevocations}`,
  )

  expect(lost.map((c) => c.lost), `lost sessions (seed ${SEED})\n${cluster.outputTail()}`).toEqual([])
  expect(counts.sessionsLost).toBe(0)
  expect(counts.falseReuseRevocations, JSON.stringify(reused.items)).toBe(0)
  expect(failed.items, 'no refresh was refused').toEqual([])

  // The database's own bookkeeping, read directly.
  const bySession = new Map(books.map((b) => [b.id, b]))
  expect(books).toHaveLength(clients.length)
  for (const c of clients) {
    const b = bySession.get(c.sessionId)
    expect(b, c.sessionId).toBeDefined()
    const where = `session ${c.sessionId}`
    expect(b!.revoked_at, where).toBeNull()
    // Exactly one current refresh token, and it is the one the client holds.
    expect(b!.unspent, where).toBe(1)
    expect(b!.current_hash, where).toBe(createHash('sha256').update(c.token, 'utf8').digest('hex'))
    // Every rotation the database committed reached the client (directly or by the grace replay
    // of a retry), and no rotation happened that the client did not see: no fork, no gap.
    expect(b!.generation, where).toBe(c.rotations)
    expect(b!.tokens, where).toBe(c.rotations + 1)
    // The audit log accounts for every rotation, once: the event is written in the rotation's own
    // statement (PostgreSQL) or transaction (SQLite), so a kill cannot split them.
    expect(b!.succeeded, where).toBe(b!.generation)
  }
  const rotations = clients.reduce((n, c) => n + c.rotations, 0)
  expect(rotations).toBe(counts.refreshes)

  // And alive in the only sense a user notices: the token each client holds still refreshes.
  for (const c of clients) {
    const res = await send(cluster, '/oauth/token', () => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: run.clientId, refresh_token: c.token }).toString(),
    }), () => {})
    expect(res.status, `session ${c.sessionId}: ${await res.clone().text()}`).toBe(200)
  }
}

function checkPlanReached(counts: Counts, plan: Plan): void {
  expect(counts.kills, 'kills reached before the deadline').toBeGreaterThanOrEqual(plan.kills)
  expect(counts.refreshes).toBeGreaterThan(counts.kills)
}

describePostgres('refresh under faults: 3 nodes on PostgreSQL, SIGKILLed and restarted', () => {
  test(`${PG_PLAN.clients} clients, ${PG_PLAN.kills} kills: no session lost, no false reuse`, async () => {
    const random = seededRandom(SEED)
    const schema = freshSchemaName()
    const admin = new pg.Client({ connectionString: postgresUrl })
    admin.on('error', () => {})
    await admin.connect()
    await admin.query(`CREATE SCHEMA "${schema}"`)
    await admin.end()
    cleanups.push(() => dropSchema(postgresUrl, schema))
    const url = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-faults-pg-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))

    const cluster = await startCluster(3, {
      dataDir,
      adminKey: TEST_ADMIN_KEY,
      env: { EVERGREEN_DATABASE_URL: url, EVERGREEN_SECRET: SECRET, EVERGREEN_RATE_LIMIT_TOKEN: '0', EVERGREEN_DATABASE_POOL_SIZE: '4' },
    })
    cleanups.push(() => cluster.stopAll())

    const run = await runScenario(cluster, PG_PLAN, random)
    const db = new pg.Client({ connectionString: url })
    db.on('error', () => {})
    await db.connect()
    let books: SessionBook[]
    try {
      const { rows } = await db.query<Record<string, unknown>>(BOOKKEEPING_SQL)
      books = rows.map(toBook)
    } finally {
      await db.end()
    }
    await verify(cluster, run, books, 'postgres, 3 nodes')
    checkPlanReached(run.counts, PG_PLAN)
  }, PG_PLAN.deadlineMs + 90_000)
})

describe('refresh under faults: one SQLite node, SIGKILLed and restarted on its data dir', () => {
  test(`${SQLITE_PLAN.clients} clients, ${SQLITE_PLAN.kills} kills: no session lost, no false reuse`, async () => {
    const random = seededRandom(SEED ^ 0x5eed)
    const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-faults-sqlite-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const cluster = await startCluster(1, { dataDir, adminKey: TEST_ADMIN_KEY, env: { EVERGREEN_RATE_LIMIT_TOKEN: '0' } })
    cleanups.push(() => cluster.stopAll())

    const run = await runScenario(cluster, SQLITE_PLAN, random)
    // Read-only beside the live process: WAL readers never block the writer.
    const db = new Database(join(dataDir, 'evergreen.db'), { readonly: true, fileMustExist: true })
    let books: SessionBook[]
    try {
      books = (db.prepare(BOOKKEEPING_SQL).all() as Record<string, unknown>[]).map(toBook)
    } finally {
      db.close()
    }
    await verify(cluster, run, books, 'sqlite, 1 node')
    checkPlanReached(run.counts, SQLITE_PLAN)
  }, SQLITE_PLAN.deadlineMs + 90_000)
})

function toBook(row: Record<string, unknown>): SessionBook {
  const n = (v: unknown) => (v === null ? null : Number(v))
  return {
    id: String(row.id),
    generation: Number(row.generation),
    revoked_at: n(row.revoked_at),
    tokens: Number(row.tokens),
    unspent: Number(row.unspent),
    current_hash: row.current_hash === null ? null : String(row.current_hash),
    succeeded: Number(row.succeeded),
  }
}
