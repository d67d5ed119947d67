import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CHROMIUM_PATH, chromiumInstalled, launchChromium } from '../support/chromium.js'
import { createTestUser, startInProcessServer, type InProcessServer } from '../support/in-process-server.js'
import { startNodeChild, type NodeChild } from '../support/node-child.js'
import { admin, freePort, REPO_ROOT } from '../support/server-process.js'

// A browser-based host on another origin (what the MCP Inspector is) calling Evergreen's public
// endpoints from a real Chromium page: the browser itself enforces CORS, preflights included, so
// a missing header fails here exactly as it would for a person.

const available = chromiumInstalled()

if (!available && process.env.CI === 'true') {
  test('Chromium is installed for the browser tests', () => {
    throw new Error(`${CHROMIUM_PATH} is missing: CI must run the browser tests (apt-get install chromium)`)
  })
}

describe.skipIf(!available)('CORS from a page on another origin, in Chromium', { timeout: 90_000 }, () => {
  let server: InProcessServer
  let browser: Browser
  let host: Server
  let hostOrigin: string
  let mcp: NodeChild | undefined

  beforeAll(async () => {
    server = await startInProcessServer({ EVERGREEN_DYNAMIC_REGISTRATION: 'true' })
    const port = await freePort()
    hostOrigin = `http://127.0.0.1:${port}`
    host = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8')
      res.end('<!doctype html><title>MCP host</title><h1>MCP host</h1>')
    })
    await new Promise<void>((resolve) => host.listen(port, '127.0.0.1', resolve))
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await mcp?.stop()
    await new Promise<void>((resolve) => (host ? host.close(() => resolve()) : resolve()))
    await server?.stop()
  })

  test('discovery, a refresh, a preflighted token request, registration and revocation work; introspection is refused', async () => {
    const user = await createTestUser(server, 'cors')
    const client = await admin<{ client_id: string }>(server, 'POST', '/clients', { name: 'Browser host', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
    const session = await admin<{ refresh_token: string }>(server, 'POST', '/tokens', { user: user.id, client_id: client.client_id })
    expect(new URL(server.url).origin).not.toBe(hostOrigin)

    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(hostOrigin)
    const result = await page.evaluate(
      async ({ issuer, clientId, refreshToken }) => {
        const discovery = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>
        const jwks = (await (await fetch(discovery.jwks_uri!)).json()) as { keys: unknown[] }
        // A form body is a "simple" request: no preflight, but the response is readable only with CORS.
        const refreshed = await fetch(discovery.token_endpoint!, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken }) })
        const tokens = (await refreshed.json()) as Record<string, string>
        // A DPoP header makes the browser send a preflight first; the (bad) proof's error is readable.
        const withDpop = await fetch(discovery.token_endpoint!, {
          method: 'POST',
          headers: { dpop: 'not-a-proof' },
          body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token! }),
        })
        // JSON is not a CORS-safelisted content type: another preflight.
        const registered = await fetch(discovery.registration_endpoint!, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ client_name: 'Inspector', redirect_uris: ['http://127.0.0.1:6274/oauth/callback'], token_endpoint_auth_method: 'none' }),
        })
        const revoked = await fetch(discovery.revocation_endpoint!, { method: 'POST', body: new URLSearchParams({ token: tokens.refresh_token!, client_id: clientId }) })
        let introspection: string
        try {
          await fetch(`${issuer}/oauth/introspect`, { method: 'POST', body: new URLSearchParams({ token: 'x' }) })
          introspection = 'readable'
        } catch (err) {
          introspection = `blocked: ${(err as Error).name}`
        }
        return {
          issuer: discovery.issuer,
          jwksKeys: jwks.keys.length,
          refresh: { status: refreshed.status, hasAccessToken: typeof tokens.access_token === 'string', rotated: tokens.refresh_token !== refreshToken },
          withDpop: { status: withDpop.status, body: (await withDpop.json()) as Record<string, string> },
          registered: { status: registered.status, clientId: ((await registered.json()) as Record<string, string>).client_id },
          revoked: revoked.status,
          introspection,
        }
      },
      { issuer: server.url, clientId: client.client_id, refreshToken: session.refresh_token },
    )

    expect(result.issuer).toBe(server.url)
    expect(result.jwksKeys).toBeGreaterThan(0)
    expect(result.refresh).toEqual({ status: 200, hasAccessToken: true, rotated: true })
    expect(result.withDpop.status).toBe(400)
    expect(result.withDpop.body.error).toBe('invalid_dpop_proof')
    expect(result.registered.status).toBe(201)
    expect(result.registered.clientId).toEqual(expect.any(String))
    expect(result.revoked).toBe(200)
    expect(result.introspection).toBe('blocked: TypeError')
    await context.close()
  })

  test('examples/mcp-server: the host page reads the 401 challenge, the metadata, and calls the tool endpoint with a token', async () => {
    // The example as `npm start` runs it, with this page's origin as its one CORS origin.
    const port = await freePort()
    const mcpUrl = `http://127.0.0.1:${port}`
    mcp = await startNodeChild(join(REPO_ROOT, 'examples/mcp-server/server.js'), {
      ready: /mcp-server listening/,
      env: { EVERGREEN_ISSUER: server.url, PORT: String(port), MCP_PUBLIC_URL: mcpUrl, MCP_CORS_ORIGINS: hostOrigin },
    })
    const resource = { resource: `${mcpUrl}/mcp` }
    const user = await createTestUser(server, 'cors-mcp')
    const client = await admin<{ client_id: string }>(server, 'POST', '/clients', { name: 'Browser MCP host', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none', allowed_audiences: [resource.resource] })
    const { access_token } = await admin<{ access_token: string }>(server, 'POST', '/tokens', { user: user.id, client_id: client.client_id, resource: resource.resource })

    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(hostOrigin)
    const result = await page.evaluate(
      async ({ endpoint, token }) => {
        const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'browser-host', version: '1' } } })
        const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
        const anonymous = await fetch(endpoint, { method: 'POST', headers, body: initialize })
        const challenge = anonymous.headers.get('www-authenticate') ?? ''
        const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1] ?? ''
        const metadata = (await (await fetch(metadataUrl, { headers: { 'mcp-protocol-version': '2025-06-18' } })).json()) as { resource: string; authorization_servers: string[] }
        const authorized = await fetch(endpoint, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body: initialize })
        const body = (await authorized.json()) as { result?: { serverInfo?: { name?: string } } }
        return { anonymous: anonymous.status, metadataUrl, metadata, authorized: authorized.status, serverName: body.result?.serverInfo?.name }
      },
      { endpoint: resource.resource, token: access_token },
    )
    expect(result.anonymous).toBe(401)
    expect(result.metadataUrl).toBe(`${mcpUrl}/.well-known/oauth-protected-resource/mcp`)
    expect(result.metadata).toMatchObject({ resource: resource.resource, authorization_servers: [server.url] })
    expect(result.authorized).toBe(200)
    expect(result.serverName).toBe('evergreen-example')
    await context.close()
  })
})
