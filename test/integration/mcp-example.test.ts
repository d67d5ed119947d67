import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { DPOP_SIGNING_ALGS } from '@evergreen/core'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startNodeChild, type NodeChild } from '../support/node-child.js'
import { admin, freePort, mintSession, REPO_ROOT, startServerProcess, type ServerProcess } from '../support/server-process.js'

// examples/mcp-server exactly as `npm start` runs it (server.js, settings from the environment),
// against `evergreen serve`: the metadata it publishes, the challenge it answers, a tool call
// with a token minted for it.

const SERVER_JS = join(REPO_ROOT, 'examples/mcp-server/server.js')

describe('examples/mcp-server started from its environment', () => {
  let evergreen: ServerProcess
  let mcp: NodeChild
  let publicUrl: string

  beforeAll(async () => {
    evergreen = await startServerProcess()
    const port = await freePort()
    publicUrl = `http://127.0.0.1:${port}`
    mcp = await startNodeChild(SERVER_JS, { ready: /mcp-server listening/, env: { EVERGREEN_ISSUER: evergreen.url, PORT: String(port), MCP_PUBLIC_URL: publicUrl, MCP_SCOPES: 'mcp:tools' } })
  })

  afterAll(async () => {
    await mcp?.stop()
    await evergreen?.stop()
  })

  test('publishes RFC 9728 metadata naming Evergreen, at the path-suffixed and the bare well-known URL', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(`${publicUrl}${path}`)
      expect(res.status, path).toBe(200)
      expect(await res.json()).toEqual({
        resource: `${publicUrl}/mcp`,
        authorization_servers: [evergreen.url],
        scopes_supported: ['mcp:tools', 'offline_access'],
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
        resource_name: 'Evergreen example MCP server',
      })
    }
  })

  test('answers an unauthenticated MCP request with 401 and the challenge an MCP client starts from', async () => {
    const res = await fetch(`${publicUrl}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${publicUrl}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools", ` +
        `DPoP algs="${DPOP_SIGNING_ALGS.join(' ')}", resource_metadata="${publicUrl}/.well-known/oauth-protected-resource/mcp"`,
    )
  })

  test('a token for this resource calls the tool; one without the scope gets 403 insufficient_scope', async () => {
    const userId = (await admin<{ id: string }>(evergreen, 'POST', '/users', { email: `mcp-${Math.random().toString(36).slice(2, 10)}@example.test` })).id
    const clientId = (
      await admin<{ client_id: string }>(evergreen, 'POST', '/clients', {
        name: 'mcp operator',
        grant_types: ['refresh_token'],
        token_endpoint_auth_method: 'none',
        allowed_scopes: ['mcp:tools', 'openid'],
        allowed_audiences: [`${publicUrl}/mcp`],
      })
    ).client_id
    const { access_token } = await mintSession(evergreen, userId, clientId, { resource: `${publicUrl}/mcp`, scope: 'mcp:tools' })
    const client = new Client({ name: 'it', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${publicUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${access_token}` } } }))
    const result = await client.callTool({ name: 'whoami', arguments: {} })
    expect(result.structuredContent).toMatchObject({ sub: userId, client_id: clientId, scopes: ['mcp:tools'] })
    await client.close()

    const narrow = await mintSession(evergreen, userId, clientId, { resource: `${publicUrl}/mcp`, scope: 'openid' })
    const res = await fetch(`${publicUrl}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${narrow.access_token}`, 'content-type': 'application/json' }, body: '{}' })
    expect(res.status).toBe(403)
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect(res.headers.get('www-authenticate')).toContain('scope="mcp:tools"')
  })

  test('DPoP end to end: oauth4webapi gets a DPoP-bound token from Evergreen and calls the tool with proofs; replays, other URLs and Bearer are refused', async () => {
    const mcpUrl = new URL(`${publicUrl}/mcp`)
    const registered = await admin<{ client_id: string; client_secret: string }>(evergreen, 'POST', '/clients', {
      name: 'dpop machine',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
      allowed_scopes: ['mcp:tools'],
      allowed_audiences: [mcpUrl.href],
      dpop_bound_access_tokens: true,
    })
    const insecure = { [oauth.allowInsecureRequests]: true }
    const as = await oauth.processDiscoveryResponse(new URL(evergreen.url), await oauth.discoveryRequest(new URL(evergreen.url), insecure))
    const client: oauth.Client = { client_id: registered.client_id }
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(registered.client_secret), new URLSearchParams({ scope: 'mcp:tools', resource: mcpUrl.href }), { DPoP, ...insecure }),
    )
    expect(tokens.token_type).toBe('dpop')

    // Every request through oauth4webapi carries a fresh proof; the last one sent is kept to replay.
    let lastHeaders = new Headers()
    const capture = {
      [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, oauth.ProtectedResourceRequestBody>) => {
        lastHeaders = new Headers(init.headers)
        return fetch(url, init as RequestInit)
      },
    }
    const rpc = (body: unknown, url = mcpUrl) =>
      oauth.protectedResourceRequest(tokens.access_token, 'POST', url, new Headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }), JSON.stringify(body), { DPoP, ...insecure, ...capture })
    const called = await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
    expect(called.status).toBe(200)
    expect(((await called.json()) as { result: { structuredContent: unknown } }).result.structuredContent).toMatchObject({ sub: registered.client_id, client_id: registered.client_id, scopes: ['mcp:tools'] })
    expect(lastHeaders.get('authorization')).toMatch(/^DPoP /)

    const replayed = await fetch(mcpUrl, { method: 'POST', headers: lastHeaders, body: '{}' })
    expect(replayed.status).toBe(401)
    expect(replayed.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof", error_description="the DPoP proof was already used"')

    // A proof made for another URL of the same server does not open /mcp.
    await rpc({}, new URL(`${publicUrl}/elsewhere`)).catch(() => undefined)
    const misdirected = await fetch(mcpUrl, { method: 'POST', headers: lastHeaders, body: '{}' })
    expect(misdirected.status).toBe(401)
    expect(misdirected.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof", error_description="DPoP proof htu does not match the endpoint URL"')

    const asBearer = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' }, body: '{}' })
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('www-authenticate')).toContain('error_description="a DPoP-bound access token must be presented with the DPoP scheme"')
  })

  test('refuses to start without EVERGREEN_ISSUER, saying so', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVERGREEN_')))
    const run = spawnSync(process.execPath, [SERVER_JS], { env, encoding: 'utf8', timeout: 15_000 })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('EVERGREEN_ISSUER must be the Evergreen issuer URL')
  })
})
