#!/usr/bin/env node
// oidc-provider 9 configured like Evergreen for bench/compare.js: refresh-token rotation on, ES256
// JWT access tokens (oidc-provider 9 issues JWT access tokens only through resource indicators, so
// one resource server, urn:bench:api, is the default resource), a public client, and storage
// either in SQLite through the minimal adapter below (better-sqlite3, one table, WAL) or in memory
// (its own memory adapter's logic, without the 1,000-entry bound; see memoryAdapter).
//
//   node bench/servers/oidc-provider.js <data-dir> sqlite|memory
//
// POST /__bench/mint?n=N pre-mints N grants with one unused refresh token each (through the
// provider's own models, so they are exactly what its authorization-code grant would store).

import { generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import Provider from 'oidc-provider'

const [dataDir = '.', storage = 'sqlite'] = process.argv.slice(2)

/** node-oidc-provider's adapter contract (its example/my_adapter.js), on one SQLite table. */
function sqliteAdapter(file) {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS oidc (
    model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, user_code TEXT, uid TEXT,
    expires_at INTEGER, consumed_at INTEGER, PRIMARY KEY (model, id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id);`)
  const upsert = db.prepare(`INSERT INTO oidc (model, id, payload, grant_id, user_code, uid, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, expires_at = excluded.expires_at`)
  const find = db.prepare('SELECT payload, consumed_at, expires_at FROM oidc WHERE model = ? AND id = ?')
  const findBy = (col) => db.prepare(`SELECT payload, consumed_at, expires_at FROM oidc WHERE model = ? AND ${col} = ?`)
  const byUserCode = findBy('user_code')
  const byUid = findBy('uid')
  const consume = db.prepare('UPDATE oidc SET consumed_at = ? WHERE model = ? AND id = ?')
  const destroy = db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?')
  const revoke = db.prepare('DELETE FROM oidc WHERE grant_id = ?')
  const row = (r) => {
    if (!r || (r.expires_at && r.expires_at < Date.now() / 1000)) return undefined
    const payload = JSON.parse(r.payload)
    return r.consumed_at ? { ...payload, consumed: r.consumed_at } : payload
  }
  return class SqliteAdapter {
    constructor(name) {
      this.name = name
    }
    async upsert(id, payload, expiresIn) {
      upsert.run(this.name, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresIn ? Math.floor(Date.now() / 1000) + expiresIn : null)
    }
    async find(id) {
      return row(find.get(this.name, id))
    }
    async findByUserCode(code) {
      return row(byUserCode.get(this.name, code))
    }
    async findByUid(uid) {
      return row(byUid.get(this.name, uid))
    }
    async consume(id) {
      consume.run(Math.floor(Date.now() / 1000), this.name, id)
    }
    async destroy(id) {
      destroy.run(this.name, id)
    }
    async revokeByGrantId(grantId) {
      revoke.run(grantId)
    }
  }
}

/**
 * oidc-provider's own memory adapter (lib/adapters/memory_adapter.js) without its LRU bound: that
 * one keeps at most 1,000 entries, so the pre-minted grants and refresh tokens of a run (several
 * thousand) would be evicted before use and every such request would fail as invalid_grant.
 */
function memoryAdapter() {
  const entries = new Map()
  const grants = new Map()
  const lookups = new Map()
  return class MemoryAdapter {
    constructor(name) {
      this.name = name
    }
    key(id) {
      return `${this.name}:${id}`
    }
    async upsert(id, payload, expiresIn) {
      const key = this.key(id)
      entries.set(key, { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
      if (payload.grantId) (grants.get(payload.grantId) ?? grants.set(payload.grantId, new Set()).get(payload.grantId)).add(key)
      if (payload.userCode) lookups.set(`userCode:${payload.userCode}`, key)
      if (payload.uid) lookups.set(`uid:${payload.uid}`, key)
    }
    async find(id) {
      return this.get(this.key(id))
    }
    get(key) {
      const e = key && entries.get(key)
      if (!e || e.expiresAt < Date.now()) return undefined
      return e.payload
    }
    async findByUserCode(code) {
      return this.get(lookups.get(`userCode:${code}`))
    }
    async findByUid(uid) {
      return this.get(lookups.get(`uid:${uid}`))
    }
    async consume(id) {
      const e = entries.get(this.key(id))
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000)
    }
    async destroy(id) {
      entries.delete(this.key(id))
    }
    async revokeByGrantId(grantId) {
      for (const key of grants.get(grantId) ?? []) entries.delete(key)
      grants.delete(grantId)
    }
  }
}

const RESOURCE = 'urn:bench:api'
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
let port = 0
const server = http.createServer()
server.keepAliveTimeout = 60_000
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
port = server.address().port
const issuer = `http://127.0.0.1:${port}`

const provider = new Provider(issuer, {
  adapter: storage === 'sqlite' ? sqliteAdapter(join(dataDir, 'oidc-provider.db')) : memoryAdapter(),
  clients: [
    { client_id: 'bench', token_endpoint_auth_method: 'none', id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: ['http://127.0.0.1/cb'] },
    // Introspection needs an authenticated client.
    { client_id: 'rs', id_token_signed_response_alg: 'ES256', client_secret: 'rs-secret-rs-secret-rs-secret-rs-secret', grant_types: [], response_types: [], redirect_uris: [] },
  ],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  scopes: ['openid', 'offline_access', 'api'],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: 'bench@example.test' }) }),
  rotateRefreshToken: true,
  issueRefreshToken: () => true,
  ttl: { AccessToken: 900, RefreshToken: 30 * 86_400, Grant: 30 * 86_400 },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'api', audience: RESOURCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
})
provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`))

async function mint(n) {
  const client = await provider.Client.find('bench')
  const tokens = []
  for (let i = 0; i < n; i++) {
    const grant = new provider.Grant({ accountId: 'usr_bench', clientId: 'bench' })
    // No openid: an id_token would be a second signature that Evergreen's refresh answer does not carry.
    grant.addOIDCScope('offline_access')
    grant.addResourceScope(RESOURCE, 'api')
    const grantId = await grant.save()
    const rt = new provider.RefreshToken({ accountId: 'usr_bench', client, grantId, gty: 'authorization_code', scope: 'offline_access api', resource: RESOURCE, rotations: 0, iat: Math.floor(Date.now() / 1000) })
    tokens.push(await rt.save())
  }
  return tokens
}

const callback = provider.callback()
server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url?.startsWith('/__bench/mint')) {
    const n = Math.min(200_000, Number(new URL(req.url, issuer).searchParams.get('n')) || 0)
    mint(n).then(
      (tokens) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(tokens)),
      (err) => res.writeHead(500).end(String(err.stack)),
    )
    return
  }
  if (req.url === '/__bench/cpu') {
    const { user, system } = process.cpuUsage()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ cpu_us: user + system }))
    return
  }
  callback(req, res)
})
process.stdout.write(`listening on ${issuer}\n`)
process.once('SIGTERM', () => server.close(() => process.exit(0)))
