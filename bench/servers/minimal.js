#!/usr/bin/env node
// The reference point for bench/compare.js: the least a rotating refresh grant can do. node:http,
// one better-sqlite3 transaction (look the token up, mark it used, insert its successor, bump the
// session generation) and one ES256 signature with node:crypto. No framework, no validation beyond
// what rotation needs, no audit row: a floor to compare against, not a server to deploy.
//
//   node bench/servers/minimal.js <data-dir>    # prints "listening on http://127.0.0.1:<port>"
//
// POST /__bench/mint?n=N pre-mints N unused refresh tokens (one session each) and returns them;
// GET /__bench/cpu reports this process's CPU time (µs), for a runner without /proc.

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import http from 'node:http'
import { join } from 'node:path'
import { URLSearchParams } from 'node:url'
import Database from 'better-sqlite3'

const db = new Database(join(process.argv[2] ?? '.', 'minimal.db'))
// The same durability trade as Evergreen's SQLite store: WAL, synchronous=NORMAL.
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`
  CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, sub TEXT NOT NULL, generation INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;`)
const findToken = db.prepare('SELECT session_id, used, expires_at FROM refresh_tokens WHERE hash = ?')
const markUsed = db.prepare('UPDATE refresh_tokens SET used = 1 WHERE hash = ? AND used = 0')
const insertToken = db.prepare('INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES (?, ?, ?)')
const bumpSession = db.prepare('UPDATE sessions SET generation = generation + 1 WHERE id = ? RETURNING sub, generation')
const insertSession = db.prepare('INSERT INTO sessions (id, sub, generation) VALUES (?, ?, 0)')

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const issuer = () => `http://127.0.0.1:${port}`
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const header = b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
const hashOf = (token) => createHash('sha256').update(token).digest()
const newToken = () => `rt_${randomBytes(32).toString('base64url')}`

/** The rotation: reuse or expiry is invalid_grant; otherwise the successor, in one transaction. */
const rotate = db.transaction((presented, now) => {
  const hash = hashOf(presented)
  const row = findToken.get(hash)
  if (!row || row.used || row.expires_at <= now || markUsed.run(hash).changes !== 1) return undefined
  const next = newToken()
  insertToken.run(hashOf(next), row.session_id, now + 30 * 86_400)
  const session = bumpSession.get(row.session_id)
  return { next, sub: session.sub, sid: row.session_id }
})

function accessToken(sub, sid, now) {
  const payload = b64({ iss: issuer(), sub, aud: 'bench', client_id: 'bench', sid, scope: 'openid', iat: now, exp: now + 900, jti: randomBytes(12).toString('base64url') })
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${header}.${payload}.${signature.toString('base64url')}`
}

function send(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const now = Math.floor(Date.now() / 1000)
    if (req.method === 'POST' && req.url === '/token') {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      if (form.get('grant_type') !== 'refresh_token' || form.get('client_id') !== 'bench') return send(res, 400, { error: 'invalid_request' })
      const rotated = rotate(form.get('refresh_token') ?? '', now)
      if (!rotated) return send(res, 400, { error: 'invalid_grant' })
      return send(res, 200, { access_token: accessToken(rotated.sub, rotated.sid, now), token_type: 'Bearer', expires_in: 900, refresh_token: rotated.next })
    }
    if (req.method === 'POST' && req.url?.startsWith('/__bench/mint')) {
      const n = Math.min(200_000, Number(new URL(req.url, issuer()).searchParams.get('n')) || 0)
      const tokens = db.transaction(() => {
        const out = []
        for (let i = 0; i < n; i++) {
          const sid = `ses_${randomBytes(9).toString('base64url')}`
          insertSession.run(sid, 'usr_bench')
          const token = newToken()
          insertToken.run(hashOf(token), sid, now + 30 * 86_400)
          out.push(token)
        }
        return out
      })()
      return send(res, 200, tokens)
    }
    if (req.url === '/__bench/cpu') {
      const { user, system } = process.cpuUsage()
      return send(res, 200, { cpu_us: user + system })
    }
    send(res, 404, { error: 'not_found' })
  })
})
let port = 0
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  port = server.address().port
  process.stdout.write(`listening on ${issuer()}\n`)
})
process.once('SIGTERM', () => server.close(() => process.exit(0)))
