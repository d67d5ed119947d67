import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { decodeCredential } from '@evergreen/core'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../../packages/server/src/test-support/postgres.js'
import { startLogoutReceiver, type LogoutReceiver } from '../../packages/server/src/test-support/logout-receiver.js'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { CookieBrowser } from '../support/cookie-browser.js'
import { admin, adminCall, postForm, startServerProcess, type JsonReply, type ServerProcess } from '../support/server-process.js'

/*
 * "Nothing leaks", proved end to end: one real `evergreen serve` child at log level trace is
 * taken through every flow it offers, every secret value the test sees on the way is collected,
 * and then the whole database (every table, every column, as text, and the raw database files)
 * and everything the process wrote are searched for each of them. Hashes of tokens may be
 * stored; the values themselves never. Once on SQLite, and once on PostgreSQL when it is there.
 *
 * Not searched: `state` and `nonce`, which are the client's own correlation values (the nonce is
 * stored to be put in the ID token, as OIDC requires), and the signing keys' private halves,
 * which the test never sees (they are stored sealed under the secret, which is searched).
 */

const ADMIN_KEY = `ega_scan-${randomBytes(18).toString('base64url')}`
const WRONG_ADMIN_KEY = `ega_wrong-${randomBytes(18).toString('base64url')}`
const PASSWORD = `Scan-Password-${randomBytes(9).toString('base64url')}`
const WRONG_PASSWORD = `Wrong-Password-${randomBytes(9).toString('base64url')}`
// Short enough that the reuse check below needs only a few seconds' wait, long enough that the
// grace replay right after a rotation is inside it.
const GRACE_SECONDS = 2

const cleanups: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err: unknown) => console.error(err))
})

/** Every secret value seen, by label: what the database and the logs are searched for. */
class Secrets {
  readonly values = new Map<string, string>()

  /** Keeps `value` (which must be a non-trivial string) under `label`; returns it. */
  keep(label: string, value: unknown): string {
    if (typeof value !== 'string' || value.length < 8) throw new Error(`${label}: expected a secret string, got ${JSON.stringify(value)}`)
    if (![...this.values.values()].includes(value)) this.values.set(`${label} #${this.values.size}`, value)
    return value
  }
}

interface Run {
  server: ServerProcess
  secrets: Secrets
}

const form = (server: ServerProcess, path: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
  postForm(server.url, path, params, headers)

function ok(r: JsonReply, what: string): Record<string, unknown> {
  if (r.status !== 200) throw new Error(`${what} → ${r.status}: ${r.text}`)
  return r.body
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

/**
 * Every flow of the service, against `server`, keeping every secret value it meets. The steps
 * assert only what proves the flow really ran; the flows' behaviour is tested elsewhere.
 */
async function driveEveryFlow(server: ServerProcess, callback: CallbackServer, rx: LogoutReceiver, secrets: Secrets): Promise<void> {
  const keep = secrets.keep.bind(secrets)
  keep('admin key', ADMIN_KEY)
  keep('wrong admin key', WRONG_ADMIN_KEY)
  keep('password', PASSWORD)
  keep('wrong password', WRONG_PASSWORD)

  // ---- admin: a user with a password, clients with secrets and logout registrations
  expect((await adminCall({ url: server.url, adminKey: WRONG_ADMIN_KEY }, 'GET', '/users')).status).toBe(401)
  const email = `scan-${randomBytes(4).toString('hex')}@example.test`
  const user = await admin<{ id: string }>(server, 'POST', '/users', { email, password: PASSWORD, name: 'Secret Scan' })
  const origin = new URL(callback.redirectUri).origin
  const app = await admin<{ client_id: string }>(server, 'POST', '/clients', {
    name: 'scan app',
    redirect_uris: [callback.redirectUri],
    post_logout_redirect_uris: [`${origin}/bye`],
    backchannel_logout_uri: rx.uri,
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    first_party: true,
  })
  const conf = await admin<{ client_id: string; client_secret: string }>(server, 'POST', '/clients', {
    name: 'scan confidential',
    backchannel_logout_uri: rx.uri,
    grant_types: ['refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
  })
  const confSecret = keep('client secret (basic)', conf.client_secret)
  const confAuth = basic(conf.client_id, confSecret)
  keep('basic authorization', confAuth.slice('Basic '.length))
  const posted = await admin<{ client_id: string; client_secret: string }>(server, 'POST', '/clients', {
    name: 'scan post',
    grant_types: ['refresh_token'],
    token_endpoint_auth_method: 'client_secret_post',
  })
  const postSecret = keep('client secret (post)', posted.client_secret)

  // ---- password sign-in through the pages (one wrong password first), then code + PKCE
  const verifier = keep('PKCE code_verifier', randomBytes(32).toString('base64url'))
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const authorize = new URL('/authorize', server.url)
  for (const [k, v] of Object.entries({
    client_id: app.client_id, redirect_uri: callback.redirectUri, response_type: 'code', scope: 'openid email profile',
    code_challenge: challenge, code_challenge_method: 'S256', state: 'scan-state', nonce: 'scan-nonce',
  })) authorize.searchParams.set(k, v)
  const browser = new CookieBrowser(server.url)
  const toLogin = await browser.get(authorize)
  expect(toLogin.status).toBe(303)
  await browser.get(browser.locationOf(toLogin))
  const csrfFirst = keep('CSRF token', browser.hiddenField('csrf'))
  const wrong = await browser.post('/login', { email, password: WRONG_PASSWORD, return_to: browser.hiddenField('return_to'), csrf: csrfFirst })
  expect(wrong.status).toBeGreaterThanOrEqual(400)
  const signedIn = await browser.signIn(toLogin, email, PASSWORD)
  keep('CSRF token', browser.hiddenField('csrf'))
  expect(signedIn.status, browser.lastHtml).toBe(303)
  const toClient = await browser.get(browser.locationOf(signedIn))
  expect(toClient.status).toBe(303)
  const code = keep('authorization code', browser.locationOf(toClient).searchParams.get('code'))
  const exchanged = ok(await form(server, '/oauth/token', {
    grant_type: 'authorization_code', code, redirect_uri: callback.redirectUri, client_id: app.client_id, code_verifier: verifier,
  }), 'code exchange')
  const idToken = keep('ID token', exchanged.id_token)
  const appAccess = keep('access token (code)', exchanged.access_token)
  const appRefresh0 = keep('refresh token (code)', exchanged.refresh_token)
  expect((await fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${appAccess}` } })).status).toBe(200)

  // ---- refresh rotations: two rotations, a grace replay, then a reuse after the window
  const refresh = (token: string, clientId = app.client_id) =>
    form(server, '/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: token })
  const r1 = ok(await refresh(appRefresh0), 'first rotation')
  const appRefresh1 = keep('refresh token (rotated)', r1.refresh_token)
  keep('access token (rotated)', r1.access_token)
  if (typeof r1.id_token === 'string') keep('ID token (rotated)', r1.id_token)
  const replay = ok(await refresh(appRefresh0), 'grace replay')
  expect(replay.refresh_token).toBe(appRefresh1)
  keep('access token (replay)', replay.access_token)
  const r2 = ok(await refresh(appRefresh1), 'second rotation')
  keep('refresh token (rotated)', r2.refresh_token)
  keep('access token (rotated)', r2.access_token)

  // ---- device flow, approved on /device by the signed-in browser
  const device = ok(await form(server, '/oauth/device_authorization', { client_id: 'evergreen-cli', scope: 'openid email' }), 'device authorization')
  const deviceCode = keep('device code', device.device_code)
  const userCode = keep('user code', device.user_code)
  keep('user code (bare)', userCode.replace('-', ''))
  const pollDevice = () => form(server, '/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: 'evergreen-cli' })
  expect((await pollDevice()).body.error).toBe('authorization_pending')
  const entry = await browser.follow(await browser.get(device.verification_uri_complete as string))
  expect(entry.status).toBe(200)
  keep('CSRF token', browser.hiddenField('csrf'))
  expect((await browser.post('/device', { user_code: userCode })).status).toBe(200)
  expect((await browser.post('/device/decision', { user_code: browser.hiddenField('user_code'), decision: 'approve' })).status).toBe(200)
  const deviceTokens = ok(await pollDevice(), 'device token')
  keep('access token (device)', deviceTokens.access_token)
  const deviceRefresh = keep('refresh token (device)', deviceTokens.refresh_token)
  if (typeof deviceTokens.id_token === 'string') keep('ID token (device)', deviceTokens.id_token)
  const deviceRotated = ok(await refresh(deviceRefresh, 'evergreen-cli'), 'device refresh')
  keep('refresh token (device, rotated)', deviceRotated.refresh_token)
  keep('access token (device, rotated)', deviceRotated.access_token)

  // ---- a CLI credential minted on /settings/cli, then used
  await browser.get('/settings/cli')
  keep('CSRF token', browser.hiddenField('csrf'))
  const minted = await browser.post('/settings/cli', { name: 'scan laptop', lifetime: '2592000' })
  expect(minted.status).toBe(200)
  const cliCredential = keep('CLI credential (/settings/cli)', /evergreen login --token (egc1_[A-Za-z0-9_-]+)/.exec(await minted.text())?.[1])
  const parsed = decodeCredential(cliCredential)
  if (!parsed.ok) throw new Error('the /settings/cli credential does not decode')
  const cliRefresh = keep('refresh token (CLI credential)', parsed.value.refresh_token)
  const cliRotated = ok(await refresh(cliRefresh, parsed.value.client_id), 'CLI credential refresh')
  keep('refresh token (CLI credential, rotated)', cliRotated.refresh_token)
  keep('access token (CLI credential)', cliRotated.access_token)
  await browser.get('/settings/sessions')
  keep('CSRF token', browser.hiddenField('csrf'))

  // ---- operator session minted through the admin API, with client_secret_basic
  const op = await admin<Record<string, unknown>>(server, 'POST', '/tokens', { user: user.id, client_id: conf.client_id, name: 'scan operator' })
  keep('credential (admin mint)', op.credential)
  keep('access token (admin mint)', op.access_token)
  const opRefresh0 = keep('refresh token (admin mint)', op.refresh_token)
  const opRotated = ok(await form(server, '/oauth/token', { grant_type: 'refresh_token' }, { authorization: confAuth, 'evergreen-refresh-token': opRefresh0 }), 'basic refresh (header)')
  const opRefresh1 = keep('refresh token (basic)', opRotated.refresh_token)
  const opAccess1 = keep('access token (basic)', opRotated.access_token)

  // ---- client_secret_post, and a wrong secret
  const postMinted = await admin<Record<string, unknown>>(server, 'POST', '/tokens', { user: user.id, client_id: posted.client_id })
  keep('credential (post client)', postMinted.credential)
  keep('access token (post client)', postMinted.access_token)
  const postRefresh = keep('refresh token (post client)', postMinted.refresh_token)
  const wrongSecret = keep('wrong client secret', `egs_${randomBytes(24).toString('base64url')}`)
  expect((await form(server, '/oauth/token', { grant_type: 'refresh_token', refresh_token: postRefresh, client_id: posted.client_id, client_secret: wrongSecret })).status).toBe(401)
  const viaPost = ok(await form(server, '/oauth/token', { grant_type: 'refresh_token', refresh_token: postRefresh, client_id: posted.client_id, client_secret: postSecret }), 'post refresh')
  keep('refresh token (post)', viaPost.refresh_token)
  keep('access token (post)', viaPost.access_token)

  // ---- client_credentials, introspection of both kinds of token
  const cc = ok(await form(server, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: confAuth }), 'client_credentials')
  keep('access token (client_credentials)', cc.access_token)
  for (const token of [opAccess1, opRefresh1]) {
    expect(ok(await form(server, '/oauth/introspect', { token }, { authorization: confAuth }), 'introspection').active).toBe(true)
  }
  const unknownToken = keep('unknown refresh token', `egr_${'A'.repeat(43)}000000`)
  expect((await refresh(unknownToken)).status).toBe(400)

  // ---- revocation (a back-channel logout to the confidential client), then the dead token
  expect((await form(server, '/oauth/revoke', { token: opRefresh1, token_type_hint: 'refresh_token' }, { authorization: confAuth })).status).toBe(200)
  expect((await form(server, '/oauth/token', { grant_type: 'refresh_token', refresh_token: opRefresh1 }, { authorization: confAuth })).body.error_reason).toBe('revoked')

  // ---- reuse after the grace window: the code session is revoked (another back-channel logout)
  await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1.5) * 1000))
  expect((await refresh(appRefresh0)).body).toMatchObject({ error: 'invalid_grant', error_reason: 'reused' })

  // ---- back-channel logout delivery to the loopback receiver: both revocations arrive
  keep('logout token', (await rx.next(15_000)).token)
  keep('logout token', (await rx.next(15_000)).token)

  // ---- end-session with the ID token as hint: the browser sign-in ends, back to the app
  const ended = await browser.get(`/oauth/end-session?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${origin}/bye`, state: 'scan-bye' })}`)
  expect(ended.status).toBe(303)
  expect(browser.locationOf(ended).href).toBe(`${origin}/bye?state=scan-bye`)

  // ---- a little admin reading, so those handlers log too
  await admin(server, 'GET', `/sessions?user=${user.id}`)
  await admin(server, 'GET', `/audit?user=${user.id}&limit=500`)
  await admin(server, 'DELETE', `/sessions/${String(postMinted.session_id)}`)

  // The CSRF cookie and the sign-in cookie at least.
  expect(browser.seenCookieValues.size).toBeGreaterThanOrEqual(2)
  for (const value of browser.seenCookieValues) keep('cookie value', value)
}

/**
 * The positive control: every refresh token the run saw (except the made-up one) is in the
 * dump as its SHA-256. Without it, an empty or unreadable dump would pass the scan.
 */
function expectTokenHashes(secrets: Secrets, refreshTokensTable: string): void {
  const tokens = [...secrets.values].filter(([label, v]) => v.startsWith('egr_') && !label.startsWith('unknown'))
  expect(tokens.length).toBeGreaterThanOrEqual(8)
  for (const [label, value] of tokens) {
    expect(refreshTokensTable.includes(createHash('sha256').update(value).digest('hex')), `hash of ${label} in refresh_tokens`).toBe(true)
  }
}

interface Haystack {
  name: string
  text: string
}

/** Searches every haystack for every value (whole, and its distinctive middle); returns the hits. */
function search(secrets: Secrets, haystacks: Haystack[]): string[] {
  const hits: string[] = []
  for (const [label, value] of secrets.values) {
    // The middle catches a value logged cut or re-wrapped; skip it where it is too short to be
    // distinctive (a user code).
    const needles = value.length >= 24 ? [value, value.slice(4, 24)] : [value]
    for (const h of haystacks) {
      for (const needle of needles) {
        if (h.text.includes(needle)) {
          hits.push(`${label}${needle === value ? '' : ' (part)'} in ${h.name}`)
          break
        }
      }
    }
  }
  return hits
}

function report(label: string, secrets: Secrets, haystacks: Haystack[], hits: string[]): void {
  const bytes = haystacks.reduce((n, h) => n + Buffer.byteLength(h.text), 0)
  console.log(
    `secret scan [${label}]: ${secrets.values.size} values searched in ${bytes} bytes ` +
      `(${haystacks.map((h) => `${h.name} ${Buffer.byteLength(h.text)}`).join(', ')}): ${hits.length} hits`,
  )
}

/** The server's log is really there and really verbose: otherwise "nothing leaked" proves nothing. */
function checkLogIsVerbose(output: string): void {
  const records = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const requests = records.filter((r) => r.msg === 'request')
  expect(requests.length).toBeGreaterThanOrEqual(40)
  for (const path of ['/oauth/token', '/login', '/device', '/settings/cli', '/oauth/end-session', '/oauth/introspect', '/oauth/revoke']) {
    expect(requests.some((r) => r.path === path), `a request log line for ${path}`).toBe(true)
  }
  expect(output).toContain('refresh replayed within grace window')
  expect(output).toContain('refresh token reuse detected')
}

async function startRun(env: Record<string, string>, dataDir?: string): Promise<{ run: Run; callback: CallbackServer; rx: LogoutReceiver }> {
  const callback = await startCallbackServer()
  cleanups.push(() => callback.stop())
  const rx = await startLogoutReceiver()
  cleanups.push(() => rx.stop())
  const server = await startServerProcess({
    adminKey: ADMIN_KEY,
    ...(dataDir === undefined ? {} : { dataDir }),
    env: { EVERGREEN_LOG_LEVEL: 'trace', EVERGREEN_REFRESH_GRACE_SECONDS: String(GRACE_SECONDS), ...env },
  })
  cleanups.push(() => server.stop())
  return { run: { server, secrets: new Secrets() }, callback, rx }
}

describe('secret scan', () => {
  test('SQLite: after every flow at log level trace, no secret value is in any table, the database files or the log', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'evergreen-scan-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const { run, callback, rx } = await startRun({}, dataDir)
    await driveEveryFlow(run.server, callback, rx, run.secrets)
    // The generated secret that seals signing keys lives beside the database, never in it.
    run.secrets.keep('EVERGREEN secret (file)', readFileSync(join(dataDir, 'secret'), 'utf8').trim())
    await run.server.stop()
    checkLogIsVerbose(run.server.output())

    const haystacks: Haystack[] = [{ name: 'server output', text: run.server.output() }]
    const db = new Database(join(dataDir, 'evergreen.db'), { readonly: true, fileMustExist: true })
    try {
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['sessions', 'refresh_tokens', 'audit_events', 'clients', 'users']))
      for (const { name } of tables) {
        const rows = db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]
        const text = rows.map((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v))).join('\t')).join('\n')
        haystacks.push({ name: `table ${name}`, text })
      }
    } finally {
      db.close()
    }
    // Also the raw files: a value written once and deleted can live on in a free page or the WAL.
    for (const file of readdirSync(dataDir).filter((f) => f.startsWith('evergreen.db'))) {
      haystacks.push({ name: `file ${file}`, text: readFileSync(join(dataDir, file)).toString('latin1') })
    }
    expectTokenHashes(run.secrets, haystacks.find((h) => h.name === 'table refresh_tokens')!.text)
    const hits = search(run.secrets, haystacks)
    report('sqlite', run.secrets, haystacks, hits)
    expect(hits).toEqual([])
  }, 90_000)
})

describePostgres('secret scan on PostgreSQL', () => {
  test('PostgreSQL: after every flow at log level trace, no secret value is in any table or the log', async () => {
    const schema = freshSchemaName()
    const setup = new pg.Client({ connectionString: postgresUrl })
    setup.on('error', () => {})
    await setup.connect()
    await setup.query(`CREATE SCHEMA "${schema}"`)
    await setup.end()
    cleanups.push(() => dropSchema(postgresUrl, schema))
    const url = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
    const secret = `scan-secret-${randomBytes(24).toString('base64url')}`
    const { run, callback, rx } = await startRun({ EVERGREEN_DATABASE_URL: url, EVERGREEN_SECRET: secret })
    run.secrets.keep('EVERGREEN_SECRET', secret)
    await driveEveryFlow(run.server, callback, rx, run.secrets)
    await run.server.stop()
    checkLogIsVerbose(run.server.output())

    const haystacks: Haystack[] = [{ name: 'server output', text: run.server.output() }]
    const db = new pg.Client({ connectionString: url })
    db.on('error', () => {})
    await db.connect()
    try {
      const { rows: tables } = await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, [schema],
      )
      expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['sessions', 'refresh_tokens', 'audit_events', 'clients', 'users']))
      for (const { table_name: name } of tables) {
        // A whole row as text: every column, JSONB included, in PostgreSQL's own rendering.
        const { rows } = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${name}" t`)
        haystacks.push({ name: `table ${name}`, text: rows.map((r) => r.row).join('\n') })
      }
    } finally {
      await db.end()
    }
    expectTokenHashes(run.secrets, haystacks.find((h) => h.name === 'table refresh_tokens')!.text)
    const hits = search(run.secrets, haystacks)
    report('postgres', run.secrets, haystacks, hits)
    expect(hits).toEqual([])
  }, 90_000)
})
