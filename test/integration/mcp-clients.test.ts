import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createDocumentFetcher } from '../../packages/server/src/clients/document-fetch.js'
import { startDocumentServer, type DocumentServer } from '../../packages/server/src/test-support/document-server.js'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { CookieBrowser } from '../support/cookie-browser.js'
import { createTestUser, startInProcessServer, type InProcessServer, type TestUser } from '../support/in-process-server.js'

// The two ways an MCP client introduces itself — a Client ID Metadata Document, and RFC 7591
// dynamic registration — against the real HTTP server, with oauth4webapi as the client and the
// person's sign-in and consent on the real pages. Documents are served over TLS from loopback,
// which the development setting allows.

const insecure = { [oauth.allowInsecureRequests]: true } as const

let server: InProcessServer
let docs: DocumentServer
let callback: CallbackServer
let user: TestUser
let as: oauth.AuthorizationServer

beforeAll(async () => {
  docs = await startDocumentServer()
  server = await startInProcessServer(
    { EVERGREEN_CLIENT_METADATA_ALLOW_PRIVATE: 'true', EVERGREEN_DYNAMIC_REGISTRATION: 'true' },
    { clientDocumentFetcher: (options) => createDocumentFetcher({ ...options, ca: docs.ca }) },
  )
  callback = await startCallbackServer()
  user = await createTestUser(server, 'mcp')
  const issuer = new URL(server.url)
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
})

afterAll(async () => {
  await callback?.stop()
  await server?.stop()
  await docs?.close()
})

/** Authorization code + PKCE with consent on the real pages, then one refresh; returns both token sets. */
async function codeFlowWithRefresh(client: oauth.Client) {
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint!)
  for (const [k, v] of Object.entries({
    client_id: client.client_id, redirect_uri: callback.redirectUri, response_type: 'code', scope: 'offline_access', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
  })) url.searchParams.set(k, v)

  const browser = new CookieBrowser(server.url)
  const signedIn = await browser.signIn(await browser.get(url), user.email, user.password)
  const consent = await browser.get(browser.locationOf(signedIn))
  expect(consent.status).toBe(200)
  const page = browser.lastHtml
  const approved = await browser.post(`${server.url}/authorize`, { ...Object.fromEntries(url.searchParams), decision: 'approve' })
  expect(approved.status).toBe(303)
  const params = oauth.validateAuthResponse(as, client, browser.locationOf(approved), state)
  const tokens = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, callback.redirectUri, codeVerifier, insecure))
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, insecure))
  return { page, tokens, refreshed }
}

describe('MCP client registration against the real server', () => {
  test('discovery advertises both ways, and scopes_supported lists what exists', () => {
    expect(as.registration_endpoint).toBe(`${server.url}/oauth/register`)
    expect((as as Record<string, unknown>).client_id_metadata_document_supported).toBe(true)
    expect(as.scopes_supported).toEqual(['openid', 'profile', 'email', 'offline_access'])
  })

  test('a Client ID Metadata Document client: consent names its host, code flow and a rotating refresh', async () => {
    const clientId = `${docs.origin}/mcp/client.json`
    docs.json('/mcp/client.json', {
      client_id: clientId, client_name: 'Doc MCP Client', redirect_uris: [callback.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    })
    const { page, tokens, refreshed } = await codeFlowWithRefresh({ client_id: clientId })
    expect(page).toContain('Not a registered application')
    expect(page).toContain(`localhost:${docs.port}`)
    expect(tokens.refresh_token).toMatch(/^egr_/)
    expect(refreshed.refresh_token).toMatch(/^egr_/)
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
  })

  test('a dynamically registered client: registration, consent marked unverified, code flow and a rotating refresh', async () => {
    const res = await fetch(as.registration_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'DCR MCP Client', redirect_uris: [callback.redirectUri], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' }),
    })
    expect(res.status).toBe(201)
    const registered = (await res.json()) as { client_id: string }
    const { page, tokens, refreshed } = await codeFlowWithRefresh({ client_id: registered.client_id })
    expect(page).toContain('Unverified application')
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
  })
})
