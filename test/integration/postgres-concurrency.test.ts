import pg from 'pg'
import { afterEach, expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import {
  admin, createFixture, mintSession, postForm, startServerProcess, type JsonReply, type ServerProcess,
} from '../support/server-process.js'

// docs/architecture.md "Refresh rotation" rules 4 and 5, across processes: two stateless nodes on one PostgreSQL
// receive the same refresh token at the same instant. Within the grace window every caller must
// get the one successor; with the window disabled exactly one wins and the reuse revokes the
// session.

const SECRET = 'integration-secret-0123456789-0123456789-abcdef'
const PARALLEL = 40
const METRICS_TOKEN = 'integration-metrics-token-0123456789'

let servers: ServerProcess[] = []
let schemas: string[] = []

afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  servers = []
  for (const schema of schemas) await dropSchema(postgresUrl, schema)
  schemas = []
})

/**
 * A fresh schema, created here because the server only creates one when given a `schema`
 * option; the children reach it through the URL's search_path.
 */
async function freshSchemaUrl(): Promise<string> {
  const schema = freshSchemaName()
  await withPg((c) => c.query(`CREATE SCHEMA "${schema}"`))
  schemas.push(schema)
  const sep = postgresUrl.includes('?') ? '&' : '?'
  return `${postgresUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`
}

async function withPg<T>(fn: (c: pg.Client) => Promise<T>, url = postgresUrl): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Two nodes on one schema, started at the same time (so their migrations also race). */
async function startPair(extraEnv: Record<string, string> = {}): Promise<{ a: ServerProcess; b: ServerProcess; url: string }> {
  const url = await freshSchemaUrl()
  const env = {
    EVERGREEN_DATABASE_URL: url,
    EVERGREEN_SECRET: SECRET,
    EVERGREEN_RATE_LIMIT_TOKEN: '0',
    EVERGREEN_METRICS_TOKEN: METRICS_TOKEN,
    ...extraEnv,
  }
  const started = await Promise.allSettled([startServerProcess({ env }), startServerProcess({ env })])
  for (const s of started) if (s.status === 'fulfilled') servers.push(s.value)
  for (const s of started) if (s.status === 'rejected') throw s.reason
  return { a: servers[servers.length - 2]!, b: servers[servers.length - 1]!, url }
}

function refresh(server: ServerProcess, clientId: string, refreshToken: string): Promise<JsonReply> {
  return postForm(server.url, '/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken })
}

/** `evergreen_refresh_total` by outcome, summed over the given nodes' /metrics. */
async function refreshOutcomes(...nodes: ServerProcess[]): Promise<Record<string, number>> {
  const totals: Record<string, number> = {}
  for (const node of nodes) {
    const text = await (await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()
    for (const m of text.matchAll(/^evergreen_refresh_total\{outcome="([^"]+)"\} (\d+)$/gm)) {
      totals[m[1]!] = (totals[m[1]!] ?? 0) + Number(m[2])
    }
  }
  return totals
}

async function refreshTokenRows(url: string, sessionId: string): Promise<number> {
  return withPg(async (c) => {
    const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1', [sessionId])
    return Number(rows[0]!.n)
  }, url)
}

describePostgres('two server processes on one PostgreSQL', () => {
  test(`${PARALLEL} parallel refreshes of one token across both nodes all get the same successor`, async () => {
    const { a, b, url } = await startPair()
    const fx = await createFixture(a, 'pg2')
    const minted = await mintSession(a, fx.userId, fx.publicClientId)

    const replies = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => refresh(i % 2 === 0 ? a : b, fx.publicClientId, minted.refresh_token)),
    )
    for (const r of replies) expect(r.status, r.text).toBe(200)
    const successors = new Set(replies.map((r) => r.body.refresh_token as string))
    expect(successors.size).toBe(1)
    const [successor] = successors
    expect(successor).toMatch(/^egr_/)
    expect(successor).not.toBe(minted.refresh_token)
    // Each caller still gets its own fresh access token.
    expect(new Set(replies.map((r) => r.body.access_token)).size).toBe(PARALLEL)

    // Exactly one rotation across both nodes; every other caller took the grace path.
    expect(await refreshOutcomes(a, b)).toEqual({ rotated: 1, grace_replay: PARALLEL - 1 })
    expect(await refreshTokenRows(url, minted.session_id)).toBe(2)
    const session = await admin<{ active: boolean; generation: number; revoked_at: number | null }>(b, 'GET', `/sessions/${minted.session_id}`)
    expect(session).toMatchObject({ active: true, generation: 1, revoked_at: null })

    const next = await refresh(b, fx.publicClientId, successor!)
    expect(next.status, next.text).toBe(200)
    expect(next.body.refresh_token).not.toBe(successor)
    expect(next.body.refresh_token).not.toBe(minted.refresh_token)
    expect(await refreshTokenRows(url, minted.session_id)).toBe(3)
    expect(await admin(a, 'GET', `/sessions/${minted.session_id}`)).toMatchObject({ active: true, generation: 2 })
  })

  test('with the grace window disabled, exactly one parallel refresh wins and the reuse revokes the session', async () => {
    const { a, b, url } = await startPair({ EVERGREEN_REFRESH_GRACE_SECONDS: '0' })
    const fx = await createFixture(a, 'pg0')
    const minted = await mintSession(a, fx.userId, fx.publicClientId)

    const replies = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => refresh(i % 2 === 0 ? a : b, fx.publicClientId, minted.refresh_token)),
    )
    const won = replies.filter((r) => r.status === 200)
    const lost = replies.filter((r) => r.status !== 200)
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(PARALLEL - 1)
    const reasons = new Set<unknown>()
    for (const r of lost) {
      expect(r.status, r.text).toBe(400)
      expect(r.body.error).toBe('invalid_grant')
      reasons.add(r.body.error_reason)
    }
    // The first loser to look after the winner committed sees a spent token: reuse. A loser whose
    // read comes after that revocation sees the session already revoked. Nothing else is allowed.
    expect(reasons.has('reused')).toBe(true)
    expect([...reasons].every((x) => x === 'reused' || x === 'revoked')).toBe(true)

    expect((await refreshOutcomes(a, b)).rotated).toBe(1)
    expect(await refreshTokenRows(url, minted.session_id)).toBe(2)
    const session = await admin<Record<string, unknown>>(b, 'GET', `/sessions/${minted.session_id}`)
    expect(session).toMatchObject({ active: false, revoked_reason: 'reuse_detected', generation: 1 })

    // The winner's successor died with the session.
    const after = await refresh(b, fx.publicClientId, won[0]!.body.refresh_token as string)
    expect(after.status).toBe(400)
    expect(after.body).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })

    const audit = await admin<{ items: { type: string }[] }>(a, 'GET', `/audit?session=${minted.session_id}&limit=500`)
    const types = audit.items.map((e) => e.type)
    expect(types.filter((t) => t === 'refresh.succeeded')).toHaveLength(1)
    expect(types).toContain('refresh.reused')
    expect(types).toContain('session.revoked')
  })
})
