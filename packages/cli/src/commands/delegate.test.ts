import { afterAll, beforeAll, expect, test } from 'vitest'
import { killAllChildren, runCli } from '../test-support/cli-process.js'
import { claimsOf, configDir, removeTmpDirs, startSessionServer, type SessionServer } from '../test-support/session-server.js'

// `evergreen delegate` as real CLI children against a real `evergreen serve`: refused while the
// CLI's client has no token-exchange policy; once the operator gives it one, the person's
// credential turns into an agent credential that another home logs in with, and `evergreen token`
// there prints a delegated token (narrowed scope, the resource, `act`).

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const WORKSPACE = 'https://workspace.example/api'

let server: SessionServer
const EMAIL = 'grace@example.com'

beforeAll(async () => {
  server = await startSessionServer()
  await server.createUser(EMAIL)
})
afterAll(async () => {
  await killAllChildren()
  removeTmpDirs()
})

test('a refused delegation prints nothing on stdout, says why on stderr and exits 1', async () => {
  const config = configDir()
  const minted = await server.mint(EMAIL, { refresh_token_ttl: 2_592_000 })
  expect((await runCli(['login', '--token', minted.credential], { env: config.env })).code).toBe(0)
  const r = await runCli(['delegate', '--scope', 'openid', '--audience', 'https://api.example', '--ttl', '1d', '--name', 'bot'], { env: config.env })
  expect(r.code).toBe(1)
  expect(r.stdout).toBe('')
  // The built-in client has no token-exchange grant or policy yet: unauthorized_client.
  expect(r.stderr).toMatch(/refused the delegation: unauthorized_client/)
  expect(r.stderr).toMatch(/may not delegate this; ask the operator/)
})

test('not logged in exits 4 with the login instruction', async () => {
  const config = configDir()
  const r = await runCli(['delegate', '--scope', 'read', '--issuer', server.issuer], { env: config.env })
  expect(r.code).toBe(4)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/not logged in/)
})

test('--ttl takes a duration', async () => {
  const r = await runCli(['delegate', '--ttl', 'soon'], { env: configDir().env })
  expect(r.code).not.toBe(0)
  expect(r.stderr).toMatch(/--ttl/)
})

test('delegate → agent credential → login --token in another home → token is delegated: narrowed scope, the resource, act', async () => {
  const cli = await server.admin<{ grant_types: string[] }>('GET', '/clients/evergreen-cli')
  await server.admin('PATCH', '/clients/evergreen-cli', {
    grant_types: [...cli.grant_types, EXCHANGE],
    allowed_scopes: ['read', 'write'],
    allowed_audiences: [WORKSPACE],
    token_exchange: { subject_clients: ['evergreen-cli'], allowed_scopes: ['read'], allowed_resources: [WORKSPACE], max_refresh_ttl: 90 * 86_400 },
  })
  const person = configDir()
  const minted = await server.mint(EMAIL, { scope: 'read write', refresh_token_ttl: 2_592_000 })
  expect((await runCli(['login', '--token', minted.credential], { env: person.env })).code).toBe(0)

  const d = await runCli(['delegate', '--scope', 'read', '--resource', WORKSPACE, '--ttl', '7d', '--name', 'research-bot'], { env: person.env })
  expect(d.code, d.stderr).toBe(0)
  const credential = d.stdout.trim()
  expect(credential).toMatch(/^egc1_/)
  expect(credential.split('.')).toHaveLength(1)

  const agent = configDir()
  expect((await runCli(['login', '--token', credential], { env: agent.env })).code).toBe(0)
  const t = await runCli(['token'], { env: agent.env })
  expect(t.code, t.stderr).toBe(0)
  const claims = claimsOf(t.stdout.trim())
  expect(claims).toMatchObject({ scope: 'read', act: { client_id: 'evergreen-cli' } })
  expect([claims.aud].flat()).toContain(WORKSPACE)
  const child = await server.session(claims.sid as string)
  expect(child).toMatchObject({ parent_id: minted.session_id, revoked_at: null, name: 'research-bot' })
})
