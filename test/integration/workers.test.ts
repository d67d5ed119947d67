import { randomUUID } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { admin, createFixture, freePort, mintSession, startServerProcess, type Fixture, type ServerProcess } from '../support/server-process.js'

// `evergreen serve --workers 2` on SQLite: a change made through one worker — a key rotation, a
// key revocation, a client change, a session revocation — must hold on every worker at its next
// request. Which worker answers is read from the request log (each line carries `worker`): a
// probe to a unique path on a fresh keep-alive connection names the worker owning that
// connection, and the request under test goes over the same connection right after.

let server: ServerProcess
let fixture: Fixture
let metricsPort: number

beforeAll(async () => {
  metricsPort = await freePort()
  server = await startServerProcess({
    env: { EVERGREEN_WORKERS: '2', EVERGREEN_LOG_LEVEL: 'info', EVERGREEN_RATE_LIMIT_TOKEN: '0', EVERGREEN_METRICS_PORT: String(metricsPort) },
  })
  fixture = await createFixture(server, 'workers')
}, 60_000)

afterAll(async () => {
  await server?.stop()
})

interface Answer {
  status: number
  body: Record<string, unknown>
}

function request(agent: http.Agent, method: string, path: string, form?: Record<string, string> | object, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(server.url)
  const json = headers['content-type'] === 'application/json'
  const body = form === undefined ? undefined : json ? JSON.stringify(form) : new URLSearchParams(form as Record<string, string>).toString()
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: hostname, port, method, path, agent,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** The worker that logged a request to `path` (waits for the line: the log is written after the reply). */
async function workerThatServed(path: string): Promise<number> {
  // Polls, not a timing assumption: the line is written right after the reply; 10 s is only a
  // bound for a machine under heavy load.
  for (let i = 0; i < 1000; i++) {
    for (const line of server.output().split('\n')) {
      if (!line.includes(`"path":"${path}"`)) continue
      return (JSON.parse(line) as { worker: number }).worker
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no log line for ${path}`)
}

/** Runs `fn` over one connection owned by `worker`: fresh connections until one lands there. */
async function onWorker<T>(worker: number, fn: (agent: http.Agent) => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const probe = `/probe-${randomUUID()}`
      const sockets = new Set<unknown>()
      agent.on('free', (socket) => sockets.add(socket))
      expect((await request(agent, 'GET', probe)).status).toBe(404)
      if ((await workerThatServed(probe)) !== worker) continue
      const result = await fn(agent)
      // Still the one connection, so still that worker.
      expect(sockets.size).toBe(1)
      return result
    } finally {
      agent.destroy()
    }
  }
  throw new Error(`no connection reached worker ${worker}`)
}

const WORKERS = [1, 2]
const refresh = (agent: http.Agent, token: string, clientId = fixture.publicClientId) =>
  request(agent, 'POST', '/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: token })
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid
const introspect = (agent: http.Agent, token: string) =>
  request(agent, 'POST', '/oauth/introspect', { token }, {
    authorization: `Basic ${Buffer.from(`${fixture.confidentialClientId}:${fixture.confidentialClientSecret}`).toString('base64')}`,
  })

test('both workers serve, and each logs its own id', async () => {
  for (const w of WORKERS) {
    const minted = await mintSession(server, fixture.userId, fixture.publicClientId)
    const r = await onWorker(w, (agent) => refresh(agent, minted.refresh_token))
    expect(r.status).toBe(200)
  }
}, 60_000)

test('EVERGREEN_METRICS_PORT is served by the primary with both workers\' requests summed', async () => {
  // The test above made exactly one successful refresh on each worker.
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text).toMatch(/evergreen_http_requests_total\{route="\/oauth\/token",method="POST",status="200"\} 2\n/)
}, 30_000)

test('a key rotated through one worker signs on every worker at once, and a revoked key stops verifying on every worker', async () => {
  const before = await mintSession(server, fixture.userId, fixture.publicClientId)
  const oldKid = kidOf(before.access_token)
  // Rotate on worker 1, effective now. Without the broadcast, worker 2 would sign with the old
  // key until its periodic reload (10 s).
  const rotated = await onWorker(1, (agent) =>
    request(agent, 'POST', '/admin/v1/keys/rotate', { activate_after: 0 }, { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' }),
  )
  expect(rotated.status).toBe(201)
  const key = rotated.body
  const newKid = key.kid as string
  expect(newKid).not.toBe(oldKid)
  for (const w of WORKERS) {
    const minted = await mintSession(server, fixture.userId, fixture.publicClientId)
    const r = await onWorker(w, (agent) => refresh(agent, minted.refresh_token))
    expect(r.status, `worker ${w}`).toBe(200)
    expect(kidOf(r.body.access_token as string), `worker ${w}`).toBe(newKid)
  }
  // The old key's token verifies everywhere until the key is revoked (on worker 2)…
  for (const w of WORKERS) expect((await onWorker(w, (agent) => introspect(agent, before.access_token))).body.active, `worker ${w}`).toBe(true)
  await onWorker(2, (agent) =>
    request(agent, 'POST', `/admin/v1/keys/${oldKid}/revoke`, undefined, { authorization: `Bearer ${server.adminKey}` }),
  ).then((r) => expect(r.status).toBe(200))
  // …and nowhere after, with no wait.
  for (const w of WORKERS) {
    expect((await onWorker(w, (agent) => introspect(agent, before.access_token))).body.active, `worker ${w}`).toBe(false)
    const jwks = await onWorker(w, (agent) => request(agent, 'GET', '/.well-known/jwks.json'))
    expect((jwks.body.keys as { kid: string }[]).map((k) => k.kid), `worker ${w}`).not.toContain(oldKid)
  }
}, 90_000)

test('a client change through the admin API holds on every worker at its next request', async () => {
  const client = await admin<{ client_id: string; client_secret: string }>(server, 'POST', '/clients', {
    name: 'changing', grant_types: ['refresh_token', 'client_credentials'], token_endpoint_auth_method: 'client_secret_basic',
  })
  const basic = { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }
  const sessions = await Promise.all(WORKERS.map(() => mintSession(server, fixture.userId, client.client_id)))
  await admin(server, 'PATCH', `/clients/${client.client_id}`, { grant_types: ['client_credentials'] })
  for (const [i, w] of WORKERS.entries()) {
    const r = await onWorker(w, (agent) =>
      request(agent, 'POST', '/oauth/token', { grant_type: 'refresh_token', refresh_token: sessions[i]!.refresh_token }, basic),
    )
    expect(r.status, `worker ${w}`).toBe(400)
    expect(r.body.error, `worker ${w}`).toBe('unauthorized_client')
  }
}, 60_000)

test('a session revoked through one worker is refused by every worker, refresh and introspection alike', async () => {
  const session = await mintSession(server, fixture.userId, fixture.publicClientId)
  // Live on both first, so a refusal below is the revocation and nothing else.
  for (const w of WORKERS) expect((await onWorker(w, (agent) => introspect(agent, session.access_token))).body.active, `worker ${w}`).toBe(true)
  await onWorker(1, (agent) => request(agent, 'DELETE', `/admin/v1/sessions/${session.session_id}`, undefined, { authorization: `Bearer ${server.adminKey}` }))
    .then((r) => expect(r.status).toBe(200))
  for (const w of WORKERS) {
    expect((await onWorker(w, (agent) => introspect(agent, session.access_token))).body.active, `worker ${w}`).toBe(false)
    const r = await onWorker(w, (agent) => refresh(agent, session.refresh_token))
    expect(r.status, `worker ${w}`).toBe(400)
    expect(r.body.error_reason ?? r.body.error, `worker ${w}`).toBe('revoked')
  }
}, 60_000)
