import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterEach, expect, test } from 'vitest'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import { describeRedis, redisUrl } from '../../packages/web/src/test-support/redis.js'
import { PageClient } from '../../packages/server/src/test-support/browser-client.js'
import { admin, startServerProcess, type ServerProcess } from '../support/server-process.js'

// Every limit holds across nodes: two real `evergreen serve` processes share their budgets
// through Redis, or through PostgreSQL when that is the store. Requests alternate between the
// two; with per-node counting each would allow the whole budget again.

const SECRET = 'integration-secret-0123456789-0123456789-abcdef'
const TOKEN_LIMIT = 10
const ADMIN_LIMIT = 4
const LOGIN_LIMIT = 4

let servers: ServerProcess[] = []
let schemas: string[] = []

afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  servers = []
  for (const schema of schemas) await dropSchema(postgresUrl, schema)
  schemas = []
})

/**
 * Two nodes of one deployment: the same issuer (a fresh one per test, so budgets left in Redis
 * by an earlier run do not count) and the same backend.
 */
async function startPair(env: Record<string, string>): Promise<[ServerProcess, ServerProcess]> {
  const shared = {
    EVERGREEN_ISSUER: `http://rl-${randomBytes(6).toString('hex')}.test`,
    EVERGREEN_SECRET: SECRET,
    EVERGREEN_RATE_LIMIT_TOKEN: String(TOKEN_LIMIT),
    EVERGREEN_RATE_LIMIT_ADMIN: String(ADMIN_LIMIT),
    EVERGREEN_RATE_LIMIT_LOGIN: String(LOGIN_LIMIT),
    ...env,
  }
  const started = await Promise.allSettled([startServerProcess({ env: shared }), startServerProcess({ env: shared })])
  for (const s of started) if (s.status === 'fulfilled') servers.push(s.value)
  for (const s of started) if (s.status === 'rejected') throw s.reason
  return [servers[servers.length - 2]!, servers[servers.length - 1]!]
}

const tokenRequest = (node: ServerProcess) =>
  fetch(`${node.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=cli_nope&client_secret=wrong',
  })

async function expectTokenLimitIsGlobal([a, b]: [ServerProcess, ServerProcess]) {
  const statuses: number[] = []
  for (let i = 0; i < TOKEN_LIMIT; i++) statuses.push((await tokenRequest(i % 2 === 0 ? a : b)).status)
  const logs = () => a.output() + b.output()
  expect(statuses, logs()).toEqual(Array(TOKEN_LIMIT).fill(401))
  // The 11th, on either node, is over the one shared budget.
  for (const node of [a, b]) {
    const res = await tokenRequest(node)
    expect(res.status, logs()).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
  }
}

async function expectAdminLimitIsGlobal([a, b]: [ServerProcess, ServerProcess]) {
  const call = (node: ServerProcess, key: string) => fetch(`${node.url}/admin/v1/users`, { headers: { authorization: `Bearer ${key}` } })
  // Wrong keys are counted before they are compared, alternating nodes.
  for (let i = 0; i < ADMIN_LIMIT; i++) expect((await call(i % 2 === 0 ? a : b, 'ega_wrong-key-0123456789')).status).toBe(401)
  for (const node of [a, b]) {
    // Over the shared budget, even the right key gets 429 on both nodes.
    const res = await call(node, node.adminKey)
    expect(res.status, a.output() + b.output()).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  }
}

async function expectLoginLimitIsGlobal([a, b]: [ServerProcess, ServerProcess]) {
  const email = `shared-${randomBytes(4).toString('hex')}@example.test`
  await admin(a, 'POST', '/users', { email, password: 'the-right-password-0123' })
  // One browser whose requests alternate between the nodes, as behind a round-robin balancer;
  // both nodes share the issuer, so its Origin is the issuer's.
  let turn = 0
  const issuer = new URL(a.output().match(/issuer: (\S+)/)?.[1] ?? 'http://invalid').origin
  const browser = new PageClient(
    { fetch: (path, init) => fetch(new URL(path, [a, b][turn++ % 2]!.url), { ...init, redirect: 'manual' }) },
    { origin: issuer },
  )
  await browser.get('/login')
  const statuses: number[] = []
  for (let i = 0; i < LOGIN_LIMIT + 1; i++) statuses.push((await browser.post('/login', { email, password: 'wrong' })).status)
  // Counted before the password is checked, across both nodes: the fifth guess is refused.
  expect(statuses, a.output() + b.output()).toEqual([...Array(LOGIN_LIMIT).fill(401), 429])
  const res = await browser.post('/login', { email, password: 'wrong' })
  expect(res.status).toBe(429)
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
}

describeRedis('limits shared through Redis', () => {
  test(`the token endpoint: ${TOKEN_LIMIT} requests across two nodes, the next gets 429 with Retry-After`, async () => {
    await expectTokenLimitIsGlobal(await startPair({ EVERGREEN_REDIS_URL: redisUrl }))
  })

  test(`wrong admin keys: ${ADMIN_LIMIT} across two nodes lock the address out of both`, async () => {
    await expectAdminLimitIsGlobal(await startPair({ EVERGREEN_REDIS_URL: redisUrl }))
  })

  test(`wrong passwords: ${LOGIN_LIMIT} across two nodes, the next is refused with 429 and Retry-After`, async () => {
    await expectLoginLimitIsGlobal(await startPair({ EVERGREEN_REDIS_URL: redisUrl }))
  })
})

describePostgres('limits shared through PostgreSQL', () => {
  async function freshSchemaUrl(): Promise<string> {
    const schema = freshSchemaName()
    const client = new pg.Client({ connectionString: postgresUrl })
    await client.connect()
    try {
      await client.query(`CREATE SCHEMA "${schema}"`)
    } finally {
      await client.end()
    }
    schemas.push(schema)
    const sep = postgresUrl.includes('?') ? '&' : '?'
    return `${postgresUrl}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`
  }

  test(`the token endpoint: ${TOKEN_LIMIT} requests across two nodes, the next gets 429 with Retry-After`, async () => {
    await expectTokenLimitIsGlobal(await startPair({ EVERGREEN_DATABASE_URL: await freshSchemaUrl() }))
  })

  test(`wrong admin keys: ${ADMIN_LIMIT} across two nodes lock the address out of both`, async () => {
    await expectAdminLimitIsGlobal(await startPair({ EVERGREEN_DATABASE_URL: await freshSchemaUrl() }))
  })

  test(`wrong passwords: ${LOGIN_LIMIT} across two nodes, the next is refused with 429 and Retry-After`, async () => {
    await expectLoginLimitIsGlobal(await startPair({ EVERGREEN_DATABASE_URL: await freshSchemaUrl() }))
  })
})
