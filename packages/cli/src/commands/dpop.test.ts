import { statSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { decodeCredential } from '@evergreen/core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { killSpawnedCli, spawnCli } from '../test-support/cli-child.js'
import { BIN, killAllChildren, runCli, runFile } from '../test-support/cli-process.js'
import { claimsOf, configDir, removeTmpDirs, startSessionServer, type ConfigDir, type SessionServer } from '../test-support/session-server.js'
import { MODULE_TRACE, TOKEN_FAST, unbundledBin } from '../test-support/unbundled-bin.js'

// DPoP (RFC 9449) from the CLI: `evergreen login` binds the session to a key against a token
// service that offers it, `status` says so, and the key rides along in the 0600 session file
// through rotations made by many processes at once. Real CLI children, a real `evergreen serve`.

let server: SessionServer
let userId: string
const EMAIL = 'hedy@example.com'
const USER_CODE = /Enter\s+([A-Z]{4}-[A-Z]{4})/
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'

beforeAll(async () => {
  server = await startSessionServer()
  userId = await server.createUser(EMAIL)
})
afterEach(async () => {
  await killSpawnedCli()
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

async function deviceLogin(extra: string[] = []): Promise<{ config: ConfigDir; stderr: string }> {
  const config = configDir()
  const login = spawnCli(['login', '--no-browser', '--issuer', server.issuer, ...extra], { env: config.env })
  const [, userCode] = await login.waitForStderr(USER_CODE)
  expect(await server.decideDevice(userCode!, EMAIL)).toContain('Device connected')
  expect(await login.exited(), login.stderr()).toEqual({ code: 0, signal: null })
  return { config, stderr: login.stderr() }
}

interface AuditPage {
  items: { type: string }[]
}

/** Refresh grants the token service completed for a session, by its audit trail. */
async function refreshesOf(sid: string): Promise<number> {
  const page = await server.admin<AuditPage>('GET', `/audit?session=${encodeURIComponent(sid)}&type=refresh.succeeded&limit=200`)
  return page.items.length
}

describe('evergreen login against a token service that offers DPoP', () => {
  test('binds the session to a key stored in the 0600 session file; status shows it with the thumbprint', async () => {
    const { config, stderr } = await deviceLogin()
    const stored = config.read()
    const dpop = stored.dpop as { jkt: string; bound_at_issuance: boolean; jwk: Record<string, string> }
    expect(dpop).toMatchObject({ alg: 'ES256', bound_at_issuance: true, jwk: { kty: 'EC', crv: 'P-256' } })
    expect(stderr).toContain(`The session is bound to a key kept with it (DPoP, thumbprint ${dpop.jkt}).`)
    expect(config.files()).toHaveLength(1)
    expect(statSync(config.files()[0]!).mode & 0o777).toBe(0o600)

    const json = await runCli(['status', '--json'], { env: config.env })
    expect(json.code, json.stderr).toBe(0)
    const report = JSON.parse(json.stdout) as Record<string, unknown> & { checks: { name: string; status: string; message: string }[] }
    expect(report).toMatchObject({ key_bound: true, dpop_jkt: dpop.jkt, token_type: 'Bearer', refresh_check: 'ok' })
    expect(report.checks.find((c) => c.name === 'key binding')).toEqual({
      name: 'key binding',
      status: 'ok',
      message: `DPoP-bound refresh token (access tokens are Bearer); key thumbprint ${dpop.jkt}`,
    })
    // The live refresh in status rotated the token with a proof, and kept the key.
    expect(config.read().refresh_token).not.toBe(stored.refresh_token)
    expect(config.read().dpop).toEqual(stored.dpop)
    // Neither the private key nor a token is ever printed.
    expect(json.stdout).not.toContain(dpop.jwk.d)

    const human = await runCli(['status', '--no-refresh-check'], { env: config.env })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(new RegExp(`✓ key binding +DPoP-bound refresh token \\(access tokens are Bearer\\); key thumbprint ${dpop.jkt}`))

    // Logout revokes the bound session at the token service and deletes token and key together.
    const sid = claimsOf(config.read().access_token).sid as string
    const out = await runCli(['logout'], { env: config.env })
    expect(out.code, out.stderr).toBe(0)
    expect(await server.session(sid)).toMatchObject({ active: false })
    expect(config.files()).toEqual([])
  }, 60_000)

  test('--no-dpop: a Bearer session, and status says it is not key-bound', async () => {
    const { config, stderr } = await deviceLogin(['--no-dpop'])
    expect(config.read().dpop).toBeUndefined()
    expect(stderr).not.toContain('bound to a key')
    const json = await runCli(['status', '--json', '--no-refresh-check'], { env: config.env })
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ key_bound: false, dpop_jkt: null })
  }, 60_000)

  test('20 parallel `evergreen token` processes, twice over: exactly one refresh each time, all print it, the key stays', async () => {
    const { config } = await deviceLogin()
    const first = config.read()
    const sid = claimsOf(first.access_token).sid as string
    let previous = first
    for (let round = 0; round < 2; round++) {
      config.expireAccessToken()
      const before = await refreshesOf(sid)
      const runs = await Promise.all(Array.from({ length: 20 }, () => runCli(['token'], { env: config.env })))
      for (const r of runs) expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' })
      const printed = new Set(runs.map((r) => r.stdout.trim()))
      expect(printed.size).toBe(1)
      expect(await refreshesOf(sid)).toBe(before + 1)

      const stored = config.read()
      expect(stored.access_token).toBe([...printed][0])
      expect(stored.refresh_token).not.toBe(previous.refresh_token)
      expect(stored.dpop).toEqual(first.dpop)
      expect(config.files()).toHaveLength(1)
      expect(statSync(config.files()[0]!).mode & 0o777).toBe(0o600)
      previous = stored
    }
    expect(await server.session(sid)).toMatchObject({ active: true, user_id: userId })
  }, 120_000)

  test('the fast path stays fast: `evergreen token` with a valid bound token loads no signing code', async () => {
    const { config } = await deviceLogin()
    const env = { ...config.env, EVERGREEN_MODULE_TRACE: '1' }
    const r = await runFile(process.execPath, ['--import', MODULE_TRACE, BIN, 'token'], { env })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(config.read().access_token)
    // The bin runs the one-file bundle and nothing else of ours or of any package: no lazy chunk
    // (DPoP signing, error messages), no jose, no commander — only Node's built-ins besides.
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('module '))
    expect(loaded.filter((l) => !l.startsWith('module node:'))).toEqual([`module ${pathToFileURL(BIN).href}`, `module ${pathToFileURL(TOKEN_FAST).href}`])

    // Without the bundle, main.js's own fast path: the CLI's modules are in the trace…
    const m = await runFile(process.execPath, ['--import', MODULE_TRACE, unbundledBin(), 'token'], { env })
    expect(m.code, m.stderr).toBe(0)
    expect(m.stdout).toBe(r.stdout)
    const unbundled = m.stderr.split('\n').filter((l) => l.startsWith('module '))
    expect(unbundled.some((l) => l.includes('/packages/cli/dist/commands/token.js'))).toBe(true)
    // …but not the DPoP key module, nor jose's signing, key import or verification code.
    expect(unbundled.filter((l) => /dpop-key\.js|\/jose\/.*\/(jws|jwe|jwks|key|jwk)\/|\/jose\/.*\/jwt\/(sign|verify)/.test(l))).toEqual([])
    // Nor the SDK's or core's index (every part of them), the parts only logins, delegation and
    // errors use, commander, or jose at all: it goes through `@evergreen/client/session`,
    // `/node/store` and `@evergreen/core/token-response`. The bundle is made of the same modules.
    expect(unbundled.some((l) => l.includes('/packages/client/dist/session-entry.js'))).toBe(true)
    expect(unbundled.filter((l) => /\/packages\/(client|core)\/dist\/(index|node\/index|device-login|delegate|credential-login|login-input|token-response-login)\.js|\/packages\/cli\/dist\/(session-errors|read-stdin|jwt-claims)\.js|\/jose\/|\/commander\//.test(l))).toEqual([])
  }, 60_000)
})

describe('a client with DPoP-bound access tokens, on a token service that demands nonces', () => {
  let strict: SessionServer
  let clientId: string

  beforeAll(async () => {
    strict = await startSessionServer({ EVERGREEN_DPOP_NONCE: 'true' })
    await strict.createUser(EMAIL)
    clientId = (
      await strict.admin<{ client_id: string }>('POST', '/clients', {
        name: 'dpop-cli',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        dpop_bound_access_tokens: true,
      })
    ).client_id
  })

  test('login takes the nonce challenge; the access token is DPoP (token --json says so); whoami reaches userinfo with Authorization: DPoP and a proof; 20 processes → one refresh', async () => {
    const config = configDir()
    const login = spawnCli(['login', '--no-browser', '--issuer', strict.issuer, '--client-id', clientId], { env: config.env })
    const [, userCode] = await login.waitForStderr(USER_CODE)
    expect(await strict.decideDevice(userCode!, EMAIL)).toContain('Device connected')
    expect(await login.exited(), login.stderr()).toEqual({ code: 0, signal: null })
    const stored = config.read()
    expect(stored).toMatchObject({ token_type: 'DPoP', dpop: { bound_at_issuance: true } })
    const jkt = (stored.dpop as { jkt: string }).jkt
    expect(claimsOf(stored.access_token).cnf).toEqual({ jkt })

    const token = await runCli(['token', '--json'], { env: config.env })
    expect(token.code, token.stderr).toBe(0)
    expect(JSON.parse(token.stdout)).toMatchObject({ access_token: stored.access_token, token_type: 'DPoP' })

    // userinfo refuses a DPoP-bound token sent as Bearer; the CLI's fetch sends the DPoP scheme.
    const asBearer = await fetch(`${strict.issuer}/userinfo`, { headers: { authorization: `Bearer ${stored.access_token}` } })
    expect(asBearer.status).toBe(401)
    const who = await runCli(['whoami', '--json'], { env: config.env })
    expect(who.code, who.stderr).toBe(0)
    expect(JSON.parse(who.stdout)).toMatchObject({ email: EMAIL, claims_from: 'userinfo' })

    const sid = claimsOf(stored.access_token).sid as string
    config.expireAccessToken()
    const before = (await strict.admin<AuditPage>('GET', `/audit?session=${encodeURIComponent(sid)}&type=refresh.succeeded&limit=200`)).items.length
    const runs = await Promise.all(Array.from({ length: 20 }, () => runCli(['token'], { env: config.env })))
    for (const r of runs) expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' })
    expect(new Set(runs.map((r) => r.stdout.trim())).size).toBe(1)
    const after = (await strict.admin<AuditPage>('GET', `/audit?session=${encodeURIComponent(sid)}&type=refresh.succeeded&limit=200`)).items.length
    expect(after).toBe(before + 1)
    const renewed = config.read()
    expect(renewed).toMatchObject({ token_type: 'DPoP', dpop: stored.dpop })
    expect(claimsOf(renewed.access_token).cnf).toEqual({ jkt })
  }, 120_000)

  /** The client may exchange its own sessions; a person logs in with a DPoP-bound session and DPoP-bound access tokens. */
  async function boundPerson(): Promise<{ person: ConfigDir; personJkt: string; personSid: string }> {
    const client = await strict.admin<{ grant_types: string[] }>('GET', `/clients/${clientId}`)
    await strict.admin('PATCH', `/clients/${clientId}`, {
      grant_types: [...new Set([...client.grant_types, EXCHANGE])],
      token_exchange: { subject_clients: [clientId], allowed_scopes: [] },
    })
    const person = configDir()
    const login = spawnCli(['login', '--no-browser', '--issuer', strict.issuer, '--client-id', clientId], { env: person.env })
    const [, userCode] = await login.waitForStderr(USER_CODE)
    expect(await strict.decideDevice(userCode!, EMAIL)).toContain('Device connected')
    expect(await login.exited(), login.stderr()).toEqual({ code: 0, signal: null })
    const personJkt = (person.read().dpop as { jkt: string }).jkt
    expect(claimsOf(person.read().access_token).cnf).toEqual({ jkt: personJkt })
    return { person, personJkt, personSid: claimsOf(person.read().access_token).sid as string }
  }

  test('a bound person delegates (the exchange proves the person\'s key, nonce challenge taken); the agent logs in with the credential in another home and gets tokens, not bound to the person\'s key', async () => {
    const { person, personJkt, personSid } = await boundPerson()

    const d = await runCli(['delegate', '--scope', 'openid', '--name', 'bound-agent'], { env: person.env })
    expect(d.code, d.stderr).toBe(0)
    const credential = d.stdout.trim()
    expect(credential).toMatch(/^egc1_/)

    const agent = configDir()
    const agentLogin = await runCli(['login', '--token', credential], { env: agent.env })
    expect(agentLogin.code, agentLogin.stderr).toBe(0)
    const t = await runCli(['token'], { env: agent.env })
    expect(t.code, t.stderr).toBe(0)
    const claims = claimsOf(t.stdout.trim())
    expect(claims).toMatchObject({ scope: 'openid', act: { client_id: clientId } })
    expect(claims.sid).not.toBe(personSid)
    // The agent proves a key of its own (the credential predates it), never the person's.
    const agentJkt = (agent.read().dpop as { jkt: string }).jkt
    expect(agentJkt).not.toBe(personJkt)
    expect(claims.cnf).toEqual({ jkt: agentJkt })
    expect(await strict.session(claims.sid as string)).toMatchObject({ parent_id: personSid, dpop_jkt: null, name: 'bound-agent', revoked_at: null })
    // And it keeps refreshing on its own.
    agent.expireAccessToken()
    const again = await runCli(['token'], { env: agent.env })
    expect(again.code, again.stderr).toBe(0)
    expect(claimsOf(again.stdout.trim()).sid).toBe(claims.sid)
  }, 120_000)

  test('delegate --bind-key: the credential carries a key made for the agent; its session is bound to it from issuance and refused without a proof of it', async () => {
    const { person, personJkt, personSid } = await boundPerson()
    const d = await runCli(['delegate', '--scope', 'openid', '--bind-key', '--json'], { env: person.env })
    expect(d.code, d.stderr).toBe(0)
    const out = JSON.parse(d.stdout) as { credential: string; dpop_jkt: string | null }
    expect(out.dpop_jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(out.dpop_jkt).not.toBe(personJkt)
    const carried = decodeCredential(out.credential)
    expect(carried.ok && carried.value.dpop_key).toMatchObject({ kty: 'EC', crv: 'P-256' })

    const agent = configDir()
    const agentLogin = await runCli(['login', '--token', out.credential], { env: agent.env })
    expect(agentLogin.code, agentLogin.stderr).toBe(0)
    expect(agent.read().dpop).toMatchObject({ jkt: out.dpop_jkt, bound_at_issuance: true })
    const t = await runCli(['token'], { env: agent.env })
    expect(t.code, t.stderr).toBe(0)
    const claims = claimsOf(t.stdout.trim())
    expect(claims.cnf).toEqual({ jkt: out.dpop_jkt })
    expect(await strict.session(claims.sid as string)).toMatchObject({ parent_id: personSid, dpop_jkt: out.dpop_jkt })
    const status = await runCli(['status', '--json', '--no-refresh-check'], { env: agent.env })
    expect(JSON.parse(status.stdout)).toMatchObject({ key_bound: true, dpop_jkt: out.dpop_jkt })

    // A copy of the agent's refresh token without the key is refused, and ends nothing.
    const copied = await fetch(`${strict.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: agent.read().refresh_token! }),
    })
    expect(copied.status).toBe(400)
    expect(await copied.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    agent.expireAccessToken()
    const again = await runCli(['token'], { env: agent.env })
    expect(again.code, again.stderr).toBe(0)
    expect(claimsOf(again.stdout.trim())).toMatchObject({ sid: claims.sid, cnf: { jkt: out.dpop_jkt } })
  }, 120_000)
})
