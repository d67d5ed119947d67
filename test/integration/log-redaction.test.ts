import { afterAll, expect, test } from 'vitest'
import { adminCall, admin, mintSession, postForm, startServerProcess, type ServerProcess } from '../support/server-process.js'

// docs/architecture.md "Server surface": the server never logs a refresh token. Run a real server at the most verbose
// level, push every kind of secret through it, and search everything it wrote.

const ADMIN_KEY = 'ega_redaction-admin-key-Zq8v3Kx1Lm0Pn7Rt'
const WRONG_ADMIN_KEY = 'ega_wrong-admin-key-Yh4Wc9Jd2Ss6Bb0N'
const PASSWORD = 'Redaction-Password-7f3a9c1e'

let server: ServerProcess | undefined
let reuseServer: ServerProcess | undefined

afterAll(async () => {
  await Promise.all([server?.stop(), reuseServer?.stop()])
})

test('at log level trace, no admin key, client secret, password or token reaches stdout or stderr', async () => {
  server = await startServerProcess({ adminKey: ADMIN_KEY, env: { EVERGREEN_LOG_LEVEL: 'trace' } })
  const s = server
  const secrets = new Map<string, string>([
    ['admin key', ADMIN_KEY],
    ['wrong admin key', WRONG_ADMIN_KEY],
    ['password', PASSWORD],
  ])
  const keep = (label: string, value: unknown) => {
    expect(typeof value, label).toBe('string')
    secrets.set(`${label} #${secrets.size}`, value as string)
    return value as string
  }

  const user = await admin<{ id: string }>(s, 'POST', '/users', { email: 'redaction@example.test', password: PASSWORD })
  const confidential = await admin<{ client_id: string; client_secret: string }>(s, 'POST', '/clients', {
    name: 'redaction confidential',
    grant_types: ['refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
  })
  const secret = keep('client secret', confidential.client_secret)
  const posted = await admin<{ client_id: string; client_secret: string }>(s, 'POST', '/clients', {
    name: 'redaction post',
    grant_types: ['refresh_token'],
    token_endpoint_auth_method: 'client_secret_post',
  })
  const postSecret = keep('client_secret_post secret', posted.client_secret)
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(confidential.client_id)}:${encodeURIComponent(secret)}`).toString('base64')}`
  keep('basic header', basic.slice(6))

  // A failed admin authentication (the wrong key must not be logged either).
  const denied = await adminCall({ url: s.url, adminKey: WRONG_ADMIN_KEY }, 'GET', '/users')
  expect(denied.status).toBe(401)

  // Mint, then refresh with the token in the body and with it in the Evergreen-Refresh-Token header.
  const minted = await mintSession(s, user.id, confidential.client_id)
  keep('minted refresh token', minted.refresh_token)
  keep('minted access token', minted.access_token)
  keep('credential', minted.credential)
  const first = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: minted.refresh_token }, { authorization: basic })
  expect(first.status, first.text).toBe(200)
  const rt1 = keep('refresh token', first.body.refresh_token)
  keep('access token', first.body.access_token)
  const second = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token' }, { authorization: basic, 'evergreen-refresh-token': rt1 })
  expect(second.status, second.text).toBe(200)
  const rt2 = keep('refresh token', second.body.refresh_token)
  const at2 = keep('access token', second.body.access_token)

  // client_secret_post, and a failed client authentication.
  const postMinted = await mintSession(s, user.id, posted.client_id)
  keep('post refresh token', postMinted.refresh_token)
  keep('post access token', postMinted.access_token)
  const viaPost = await postForm(s.url, '/oauth/token', {
    grant_type: 'refresh_token',
    refresh_token: postMinted.refresh_token,
    client_id: posted.client_id,
    client_secret: postSecret,
  })
  expect(viaPost.status, viaPost.text).toBe(200)
  keep('post refresh token', viaPost.body.refresh_token)
  keep('post access token', viaPost.body.access_token)
  const badSecret = keep('wrong client secret', 'egs_definitely-not-the-secret-4b1d')
  const refused = await postForm(s.url, '/oauth/token', {
    grant_type: 'refresh_token',
    refresh_token: rt2,
    client_id: posted.client_id,
    client_secret: badSecret,
  })
  expect(refused.status).toBe(401)

  // client_credentials.
  const cc = await postForm(s.url, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic })
  expect(cc.status, cc.text).toBe(200)
  keep('client_credentials access token', cc.body.access_token)

  // Introspection of both kinds of token.
  for (const token of [at2, rt2]) {
    const r = await postForm(s.url, '/oauth/introspect', { token }, { authorization: basic })
    expect(r.body.active).toBe(true)
  }

  // A replay of a spent token within the grace window (logged at debug) returns the same successor
  // while that successor is unspent; an older spent token is refused as superseded.
  const replay = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: rt1 }, { authorization: basic })
  expect(replay.status, replay.text).toBe(200)
  expect(replay.body.refresh_token).toBe(rt2)
  keep('replayed access token', replay.body.access_token)
  const superseded = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: minted.refresh_token }, { authorization: basic })
  expect(superseded.status, superseded.text).toBe(400)
  expect(superseded.body.error_reason).toBe('superseded')

  // An unknown but well-formed refresh token.
  const garbage = keep('unknown refresh token', 'egr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000')
  const unknown = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: garbage }, { authorization: basic })
  expect(unknown.status).toBe(400)

  // Revocation (token in the body), then use of the revoked token.
  const revoked = await postForm(s.url, '/oauth/revoke', { token: rt2, token_type_hint: 'refresh_token' }, { authorization: basic })
  expect(revoked.status).toBe(200)
  const afterRevoke = await postForm(s.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: rt2 }, { authorization: basic })
  expect(afterRevoke.body).toMatchObject({ error: 'invalid_grant', error_reason: 'revoked' })

  // Reuse detection needs a spent token presented after the window; a second server with the
  // window disabled gets there without waiting. Its warning carries both presenters' details.
  reuseServer = await startServerProcess({ adminKey: ADMIN_KEY, env: { EVERGREEN_LOG_LEVEL: 'trace', EVERGREEN_REFRESH_GRACE_SECONDS: '0' } })
  const r = reuseServer
  const reuseUser = await admin<{ id: string }>(r, 'POST', '/users', { email: 'reuse@example.test', password: PASSWORD })
  const reuseClient = await admin<{ client_id: string; client_secret: string }>(r, 'POST', '/clients', {
    name: 'reuse', grant_types: ['refresh_token'], token_endpoint_auth_method: 'client_secret_basic',
  })
  keep('reuse client secret', reuseClient.client_secret)
  const reuseBasic = `Basic ${Buffer.from(`${reuseClient.client_id}:${reuseClient.client_secret}`).toString('base64')}`
  const reuseMinted = await mintSession(r, reuseUser.id, reuseClient.client_id)
  keep('reuse minted refresh token', reuseMinted.refresh_token)
  keep('reuse minted access token', reuseMinted.access_token)
  const rotated = await postForm(r.url, '/oauth/token', { grant_type: 'refresh_token' }, {
    authorization: reuseBasic, 'evergreen-refresh-token': reuseMinted.refresh_token,
  })
  expect(rotated.status, rotated.text).toBe(200)
  keep('reuse successor', rotated.body.refresh_token)
  keep('reuse access token', rotated.body.access_token)
  const reused = await postForm(r.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: reuseMinted.refresh_token }, { authorization: reuseBasic })
  expect(reused.body).toMatchObject({ error: 'invalid_grant', error_reason: 'reused' })

  await Promise.all([s.stop(), r.stop()])
  const out = s.output() + '\n' + r.output()
  expect(r.output()).toContain('refresh token reuse detected')
  // Debug-level lines are there too, so the level really is verbose.
  expect(s.output()).toContain('refresh replayed within grace window')

  // The log is really there and really verbose: otherwise "nothing leaked" would prove nothing.
  const lines = out.split('\n').filter((l) => l.startsWith('{'))
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  const requests = records.filter((r) => r.msg === 'request')
  expect(requests.length).toBeGreaterThanOrEqual(15)
  expect(requests.some((r) => r.path === '/oauth/token' && r.status === 200)).toBe(true)
  expect(requests.some((r) => r.path === '/oauth/introspect')).toBe(true)
  expect(requests.some((r) => r.path === '/admin/v1/users' && r.status === 401)).toBe(true)

  for (const [label, value] of secrets) {
    expect(out.includes(value), `${label} appears in the server output`).toBe(false)
    // Also the distinctive middle of each value, in case it was logged cut or re-encoded.
    const middle = value.slice(4, 24)
    expect(out.includes(middle), `part of ${label} appears in the server output`).toBe(false)
  }
})
