import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { closedPort, killAllChildren, runCli, startServe, type CliResult, type RunOptions, type ServeProcess } from '../test-support/cli-process.js'

// `evergreen admin …` against a real `evergreen serve`, both as child processes. The admin key
// is never passed: the commands read <data dir>/admin-key, which the server's first start wrote.

let server: ServeProcess
let dataDir: string
const tmpDirs: string[] = []

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'evergreen-admin-'))
  tmpDirs.push(dir)
  return dir
}

function admin(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runCli(['admin', ...args, '--url', server.url, '--data-dir', dataDir], options)
}

async function adminJson<T = Record<string, unknown>>(args: string[], options: RunOptions = {}): Promise<T> {
  const r = await admin([...args, '--json'], options)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as T
}

interface Page<T> {
  items: T[]
  next_cursor: string | null
}

beforeAll(async () => {
  dataDir = tmp()
  // Dynamic registration on, so a self-registered client can be shown next to an operator's.
  server = await startServe(['--port', '0', '--data-dir', dataDir, '--rate-limit-token', '0'], { EVERGREEN_DYNAMIC_REGISTRATION: 'true' })
})

afterEach(async () => {
  // CLI children end on their own; anything still running belongs to a failed test. The server
  // is started once per file, so only afterAll may stop it.
  if (server.child.exitCode !== null) throw new Error(`evergreen serve died:\n${server.stderr()}`)
})

afterAll(async () => {
  await server?.stop()
  await killAllChildren()
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true })
})

describe('users', () => {
  test('create with --password-stdin, then get by email and by id', async () => {
    const user = await adminJson<{ id: string; email: string; has_password: boolean; name: string }>(
      ['users', 'create', '--email', 'ada@example.com', '--name', 'Ada', '--password-stdin'],
      { input: 'correct horse battery\n' },
    )
    expect(user).toMatchObject({ email: 'ada@example.com', name: 'Ada', has_password: true, disabled_at: null })
    expect(await adminJson(['users', 'get', 'ada@example.com'])).toEqual(user)
    expect(await adminJson(['users', 'get', user.id])).toEqual(user)
  })

  test('human output: details on stdout, the confirmation on stderr', async () => {
    const r = await admin(['users', 'create', '--email', 'bob@example.com'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^id:\s+usr_\S+$/m)
    expect(r.stdout).toMatch(/^password:\s+none$/m)
    expect(r.stderr).toMatch(/^created user usr_\S+$/m)
  })

  test('--password-stdin with nothing on stdin is refused before any request', async () => {
    const r = await admin(['users', 'create', '--email', 'nopw@example.com', '--password-stdin'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('stdin was empty')
  })

  test('the server\'s error_description and status reach the user', async () => {
    const r = await admin(['users', 'create', '--email', 'short@example.com', '--password-stdin'], { input: 'short' })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error: password must be at least 8 characters (HTTP 400)')
    expect(r.stdout).toBe('')
  })

  test('list --all follows next_cursor; without it the next cursor is shown', async () => {
    await adminJson(['users', 'create', '--email', 'carol@example.com'])
    const one = await adminJson<Page<{ email: string }>>(['users', 'list', '--limit', '1'])
    expect(one.items).toHaveLength(1)
    expect(one.next_cursor).toEqual(expect.any(String))

    const all = await adminJson<Page<{ email: string }>>(['users', 'list', '--limit', '1', '--all'])
    expect(all.next_cursor).toBeNull()
    expect(all.items.map((u) => u.email)).toEqual(expect.arrayContaining(['ada@example.com', 'bob@example.com', 'carol@example.com']))
    expect(new Set(all.items.map((u) => u.email)).size).toBe(all.items.length)

    const table = await admin(['users', 'list', '--limit', '1'])
    expect(table.code).toBe(0)
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+PASSWORD\s+CREATED\s+DISABLED$/)
    expect(table.stderr).toContain('more users: add --all, or --cursor ')
  })

  test('an unknown user is a 404 with the server\'s message', async () => {
    const r = await admin(['users', 'get', 'nobody@example.com'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error: user not found (HTTP 404)')
  })
})

describe('clients, tokens, sessions and audit', () => {
  let clientId: string

  test('clients create returns the secret once; get does not', async () => {
    const client = await adminJson<{ client_id: string; client_secret?: string; allowed_scopes: string[]; allowed_audiences: string[]; grant_types: string[] }>([
      'clients', 'create', '--name', 'Build bot', '--grant-type', 'refresh_token', '--scope', 'read write',
      '--allowed-audience', 'https://api.example', '--allowed-audience', 'urn:jobs', '--refresh-token-ttl-max', '7776000',
    ])
    clientId = client.client_id
    expect(client.client_secret).toMatch(/^egs_/)
    expect(client.allowed_scopes).toEqual(['read', 'write'])
    expect(client.allowed_audiences).toEqual(['https://api.example', 'urn:jobs'])
    expect(client.grant_types).toEqual(['refresh_token'])
    const again = await adminJson<Record<string, unknown>>(['clients', 'get', clientId])
    expect(again).not.toHaveProperty('client_secret')
    expect(again).toMatchObject({ client_id: clientId, name: 'Build bot', refresh_token_ttl_max: 7_776_000 })
  })

  test('clients get shows how a self-registered client came to be and when it expires unused; an operator\'s client shows neither', async () => {
    const res = await fetch(`${server.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'MCP tool', redirect_uris: ['http://127.0.0.1:5555/cb'], grant_types: ['authorization_code', 'refresh_token'] }),
    })
    expect(res.status).toBe(201)
    const { client_id: dynamicId } = (await res.json()) as { client_id: string }
    const shown = await admin(['clients', 'get', dynamicId])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/^registration: +dynamic$/m)
    expect(shown.stdout).toMatch(/^expires unless used: +\d{4}-/m)
    expect(await adminJson(['clients', 'get', dynamicId])).toMatchObject({ registration: 'dynamic', first_party: false })
    const operators = await admin(['clients', 'get', clientId])
    expect(operators.stdout).not.toMatch(/registration:|expires unless used:/)
    expect(await adminJson(['clients', 'get', clientId])).toMatchObject({ registration: 'admin', expires_at: null })
  })

  test('clients create --auth-method private_key_jwt --jwks-file registers the keys and no secret', async () => {
    const file = join(tmp(), 'job.jwks.json')
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis', y: 'y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE', kid: 'job-1' }] }
    writeFileSync(file, JSON.stringify(jwks))
    const client = await adminJson<{ client_id: string; client_secret?: string; jwks: unknown; token_endpoint_auth_method: string }>([
      'clients', 'create', '--name', 'Nightly job', '--grant-type', 'client_credentials', '--auth-method', 'private_key_jwt', '--jwks-file', file,
    ])
    expect(client).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks })
    expect(client).not.toHaveProperty('client_secret')
    const r = await admin(['clients', 'create', '--name', 'x', '--grant-type', 'client_credentials', '--auth-method', 'private_key_jwt', '--jwks-uri', 'http://keys.example/jwks.json'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/jwks_uri/)
  })

  test('clients rotate-secret --overlap 24h prints the new secret alone on stdout', async () => {
    const created = await adminJson<{ client_id: string; client_secret: string }>(['clients', 'create', '--name', 'svc', '--grant-type', 'client_credentials'])
    const r = await admin(['clients', 'rotate-secret', created.client_id, '--overlap', '24h'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(/^egs_/)
    expect(r.stdout.trim()).not.toBe(created.client_secret)
    expect(r.stderr).toMatch(/previous secret works until/)
    const json = await adminJson<{ client_secret: string; previous_secret_expires_at: number }>(['clients', 'rotate-secret', created.client_id])
    expect(json.previous_secret_expires_at).toBeNull()
  })

  test('clients create and update set the token-exchange policy and default resource; update keeps what is not given', async () => {
    const agent = await adminJson<{ client_id: string; grant_types: string[]; token_exchange: unknown; default_resource: string | null }>([
      'clients', 'create', '--name', 'Research agent', '--grant-type', 'token_exchange', '--grant-type', 'refresh_token',
      '--exchange-subject-client', 'app', '--exchange-allowed-scope', 'read write', '--exchange-allowed-resource', 'https://workspace.example/api',
      '--exchange-max-refresh-ttl', '7d', '--default-resource', 'https://workspace.example/api',
    ])
    expect(agent.grant_types).toEqual(['urn:ietf:params:oauth:grant-type:token-exchange', 'refresh_token'])
    expect(agent.default_resource).toBe('https://workspace.example/api')
    expect(agent.token_exchange).toEqual({
      subject_clients: ['app'], allowed_scopes: ['read', 'write'], allowed_audiences: [], allowed_resources: ['https://workspace.example/api'], max_refresh_ttl: 604_800,
    })
    const narrowed = await adminJson<{ token_exchange: unknown; default_resource: string | null }>([
      'clients', 'update', agent.client_id, '--exchange-allowed-scope', 'read', '--default-resource', 'none',
    ])
    expect(narrowed).toMatchObject({ default_resource: null, token_exchange: { subject_clients: ['app'], allowed_scopes: ['read'], max_refresh_ttl: 604_800 } })
    const removed = await adminJson<{ token_exchange: unknown }>(['clients', 'update', agent.client_id, '--no-token-exchange'])
    expect(removed.token_exchange).toBeNull()
  })

  test('tokens mint --refresh-token-ttl 7776000 gives a 90-day session', async () => {
    const minted = await adminJson<{ refresh_token_expires_in: number; session_id: string; credential: string; access_token: string; refresh_token: string }>([
      'tokens', 'mint', '--user', 'ada@example.com', '--client-id', clientId, '--refresh-token-ttl', '7776000', '--name', 'agent 7',
    ])
    expect(minted.refresh_token_expires_in).toBe(7_776_000)
    expect(minted.session_id).toMatch(/^ses_/)
    expect(minted.access_token).toEqual(expect.any(String))
    expect(minted.refresh_token).toEqual(expect.any(String))
    expect(minted.credential).toEqual(expect.any(String))
  })

  test('tokens mint without --json: the credential alone on stdout, the rest on stderr', async () => {
    const r = await admin(['tokens', 'mint', '--user', 'bob@example.com', '--client-id', clientId, '--refresh-token-ttl', '90d'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^\S{40,}$/)
    expect(r.stderr).toMatch(/minted session ses_\S+ for bob@example\.com/)
    expect(r.stderr).toContain('expires after 90 days without use')
    expect(r.stderr).toContain('evergreen login --token ')
    // stdout is a pipe here, so the credential is not repeated on stderr.
    expect(r.stderr).not.toContain(lines[0])
  })

  test('sessions list, revoke, and the audit log shows session.created and session.revoked', async () => {
    const active = await adminJson<Page<{ id: string; name: string | null; active: boolean; refresh_ttl: number }>>(
      ['sessions', 'list', '--user', 'ada@example.com', '--client-id', clientId, '--active'],
    )
    expect(active.items).toHaveLength(1)
    const session = active.items[0]!
    expect(session).toMatchObject({ name: 'agent 7', active: true, refresh_ttl: 7_776_000 })

    expect(await adminJson(['sessions', 'revoke', session.id])).toEqual({ revoked: 1 })
    expect(await adminJson(['sessions', 'get', session.id])).toMatchObject({ id: session.id, active: false, revoked_reason: 'revoked_by_admin' })
    const after = await adminJson<Page<{ id: string }>>(['sessions', 'list', '--user', 'ada@example.com', '--active'])
    expect(after.items.map((s) => s.id)).not.toContain(session.id)

    const again = await admin(['sessions', 'revoke', session.id])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain('already revoked')

    const audit = await adminJson<Page<{ type: string; session_id: string }>>(['audit', '--session', session.id, '--all'])
    expect(audit.items.map((e) => e.type)).toEqual(expect.arrayContaining(['session.created', 'session.revoked']))
    expect(audit.items.every((e) => e.session_id === session.id)).toBe(true)

    const revokedOnly = await adminJson<Page<{ type: string }>>(['audit', '--type', 'session.revoked', '--user', 'ada@example.com'])
    expect(revokedOnly.items.length).toBeGreaterThan(0)
    expect(revokedOnly.items.every((e) => e.type === 'session.revoked')).toBe(true)

    const table = await admin(['audit', '--session', session.id])
    expect(table.stdout).toMatch(/session\.created/)
    expect(table.stdout).toMatch(/session\.revoked/)
  })

  test('clients update changes fields, delete removes the client', async () => {
    const updated = await adminJson(['clients', 'update', clientId, '--refresh-token-ttl', '1d', '--first-party'])
    expect(updated).toMatchObject({ client_id: clientId, refresh_token_ttl: 86_400, first_party: true })
    const cleared = await adminJson(['clients', 'update', clientId, '--refresh-token-ttl', 'none'])
    expect(cleared).toMatchObject({ refresh_token_ttl: null, require_dpop: false, dpop_bound_access_tokens: false })
    const dpop = await adminJson(['clients', 'update', clientId, '--require-dpop', '--dpop-bound-access-tokens'])
    expect(dpop).toMatchObject({ require_dpop: true, dpop_bound_access_tokens: true })
    const shown = await admin(['clients', 'get', clientId])
    expect(shown.stdout).toMatch(/^dpop:\s+required$/m)
    expect(await adminJson(['clients', 'update', clientId, '--no-require-dpop'])).toMatchObject({ require_dpop: false, dpop_bound_access_tokens: true })

    const nothing = await admin(['clients', 'update', clientId])
    expect(nothing.code).toBe(1)
    expect(nothing.stderr).toContain('nothing to update')

    const list = await adminJson<Page<{ client_id: string }>>(['clients', 'list', '--all'])
    expect(list.items.map((c) => c.client_id)).toContain(clientId)

    expect(await adminJson(['clients', 'delete', clientId])).toEqual({ client_id: clientId, deleted: true })
    const gone = await admin(['clients', 'get', clientId])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toContain('client not found (HTTP 404)')
  })

  test('clients create and update take the logout registration flags', async () => {
    const created = await adminJson<{ client_id: string; post_logout_redirect_uris: string[]; backchannel_logout_uri: string | null }>([
      'clients', 'create', '--name', 'Dashboard', '--auth-method', 'none', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token',
      '--redirect-uri', 'http://127.0.0.1:3000/callback',
      '--post-logout-redirect-uri', 'http://127.0.0.1:3000/bye', '--post-logout-redirect-uri', 'https://dash.example/bye?x=1',
      '--backchannel-logout-uri', 'http://127.0.0.1:3000/backchannel',
    ])
    expect(created).toMatchObject({
      post_logout_redirect_uris: ['http://127.0.0.1:3000/bye', 'https://dash.example/bye?x=1'],
      backchannel_logout_uri: 'http://127.0.0.1:3000/backchannel',
    })
    const human = await admin(['clients', 'get', created.client_id])
    expect(human.stdout).toMatch(/^post-logout uris:\s+http:\/\/127\.0\.0\.1:3000\/bye, https:\/\/dash\.example\/bye\?x=1$/m)
    expect(human.stdout).toMatch(/^back-channel logout:\s+http:\/\/127\.0\.0\.1:3000\/backchannel$/m)

    const replaced = await adminJson(['clients', 'update', created.client_id, '--post-logout-redirect-uri', 'https://dash.example/out'])
    expect(replaced).toMatchObject({ post_logout_redirect_uris: ['https://dash.example/out'], backchannel_logout_uri: 'http://127.0.0.1:3000/backchannel' })
    const cleared = await adminJson(['clients', 'update', created.client_id, '--backchannel-logout-uri', 'none', '--post-logout-redirect-uri', 'none'])
    expect(cleared).toMatchObject({ post_logout_redirect_uris: [], backchannel_logout_uri: null })

    const bad = await admin(['clients', 'update', created.client_id, '--backchannel-logout-uri', 'https://dash.example/bc#frag'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('error: backchannel_logout_uri must not contain a fragment (HTTP 400)')
  })

  test('a validation error from the server is shown as is', async () => {
    const r = await admin(['clients', 'create', '--name', 'web', '--grant-type', 'authorization_code'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('authorization_code clients need at least one redirect_uri (HTTP 400)')
  })

  test('users disable ends the user\'s sessions and refuses new ones', async () => {
    const client = await adminJson<{ client_id: string }>(['clients', 'create', '--name', 'public', '--auth-method', 'none'])
    const minted = await adminJson<{ session_id: string }>(['tokens', 'mint', '--user', 'carol@example.com', '--client-id', client.client_id])
    const user = await adminJson<{ disabled_at: number | null }>(['users', 'disable', 'carol@example.com'])
    expect(user.disabled_at).toEqual(expect.any(Number))
    expect(await adminJson(['sessions', 'get', minted.session_id])).toMatchObject({ active: false })
    const r = await admin(['tokens', 'mint', '--user', 'carol@example.com', '--client-id', client.client_id])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('user is disabled (HTTP 400)')
  })
})

describe('keys', () => {
  test('keys rotate --now, then keys list shows two keys with the new one active', async () => {
    const before = await adminJson<Page<{ kid: string }>>(['keys', 'list'])
    expect(before.items).toHaveLength(1)
    const key = await adminJson<{ kid: string; status: string; created_at: number; activates_at: number }>(['keys', 'rotate', '--now'])
    expect(key.status).toBe('active')
    const after = await adminJson<Page<{ kid: string; status: string }>>(['keys', 'list'])
    expect(after.items).toHaveLength(2)
    expect(after.items.find((k) => k.kid === key.kid)?.status).toBe('active')
    expect(after.items.find((k) => k.kid === before.items[0]!.kid)?.status).toBe('retired')
  })

  test('keys revoke drops the retired key from the list; an unknown kid exits 1', async () => {
    const before = await adminJson<Page<{ kid: string; status: string }>>(['keys', 'list'])
    const retired = before.items.find((k) => k.status === 'retired')!
    const revoked = await adminJson<{ kid: string; status: string }>(['keys', 'revoke', retired.kid])
    expect(revoked).toMatchObject({ kid: retired.kid, status: 'revoked' })
    const after = await adminJson<Page<{ kid: string }>>(['keys', 'list'])
    expect(after.items.map((k) => k.kid)).not.toContain(retired.kid)
    expect((await admin(['keys', 'revoke', 'no-such-kid'])).code).toBe(1)
  })

  test('keys rotate without --now publishes the key first', async () => {
    const key = await adminJson<{ status: string; alg: string }>(['keys', 'rotate', '--activate-after', '3600', '--alg', 'ES256'])
    expect(key).toMatchObject({ status: 'published', alg: 'ES256' })
  })

  test('--now and --activate-after conflict', async () => {
    const r = await admin(['keys', 'rotate', '--now', '--activate-after', '60'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot be used with/)
  })
})

describe('failures a user can act on', () => {
  test('a wrong admin key exits 1 and says where the key comes from', async () => {
    const r = await runCli(['admin', 'keys', 'list', '--url', server.url], { env: { EVERGREEN_ADMIN_KEY: 'ega_not-the-right-key-at-all' } })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(`the token service at ${server.url} refused the admin key (from EVERGREEN_ADMIN_KEY)`)
    expect(r.stderr).toContain('admin-key')
    expect(r.stderr).not.toContain('ega_not-the-right-key-at-all')
  })

  test('no key and no admin-key file: says how to provide one', async () => {
    const r = await runCli(['admin', 'users', 'list', '--url', server.url, '--data-dir', tmp()])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no admin key: .*admin-key does not exist/)
    expect(r.stderr).toContain('EVERGREEN_ADMIN_KEY')
  })

  test('server not running: cannot reach the token service, is `evergreen serve` running?', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const r = await runCli(['admin', 'users', 'list', '--url', url], { env: { EVERGREEN_ADMIN_KEY: 'ega_whatever-key-0123456789' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot reach the token service at ${url}`)
    expect(r.stderr).toContain('is `evergreen serve` running?')
  })

  test('global options also work before the subcommand, and EVERGREEN_URL is read', async () => {
    const before = await runCli(['admin', '--url', server.url, '--data-dir', dataDir, 'keys', 'list', '--json'])
    expect(before.code).toBe(0)
    const viaEnv = await runCli(['admin', 'keys', 'list', '--json'], { env: { EVERGREEN_URL: server.url, EVERGREEN_DATA_DIR: dataDir } })
    expect(viaEnv.code).toBe(0)
    expect(JSON.parse(viaEnv.stdout)).toEqual(JSON.parse(before.stdout))
  })

  test('a bad --limit is refused by the CLI, naming the option', async () => {
    const r = await admin(['users', 'list', '--limit', '0'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("option '--limit <n>' argument '0' is invalid")
  })
})
