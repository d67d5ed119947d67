import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { CookieBrowser } from '../support/cookie-browser.js'
import { createCodeClient, createTestUser, startInProcessServer, type InProcessServer, type TestUser } from '../support/in-process-server.js'

// The user-facing flows (authorization code + PKCE, device authorization) driven by a third-party,
// standards-strict client, panva/oauth4webapi v3, used the way its README shows, against the real
// HTTP server. The person's part (sign in, approve) goes through the real pages over fetch with a
// cookie jar, CSRF token and all; test/browser/ does the same in Chromium.

const insecure = { [oauth.allowInsecureRequests]: true } as const
const CLI_CLIENT_ID = 'evergreen-cli'

let server: InProcessServer
let as: oauth.AuthorizationServer
let callback: CallbackServer
let user: TestUser

beforeAll(async () => {
  server = await startInProcessServer()
  // Nothing is ever sent here (the test reads the Location), but the registered URI is a real one.
  callback = await startCallbackServer()
  user = await createTestUser(server, 'o4w-flows')
  const issuer = new URL(server.url)
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
})

afterAll(async () => {
  await callback?.stop()
  await server?.stop()
})

/** Awaits a promise that must reject with an OAuth error response body; returns the error. */
async function responseBodyError(promise: Promise<unknown>): Promise<oauth.ResponseBodyError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(oauth.ResponseBodyError)
  return err as oauth.ResponseBodyError
}

describe('authorization code + PKCE through oauth4webapi', () => {
  test('discovery advertises what the flow needs', () => {
    expect(as.issuer).toBe(server.url)
    expect(as.authorization_endpoint).toBe(`${server.url}/authorize`)
    expect(as.code_challenge_methods_supported).toEqual(['S256'])
    expect(as.authorization_response_iss_parameter_supported).toBe(true)
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']))
  })

  test('sign in on the real pages, validate the callback, exchange with an ID token, refresh', async () => {
    const clientId = await createCodeClient(server, { name: 'o4w SPA', redirectUri: callback.redirectUri, firstParty: true })
    const client: oauth.Client = { client_id: clientId }
    const clientAuth = oauth.None()

    const codeVerifier = oauth.generateRandomCodeVerifier()
    const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier)
    const state = oauth.generateRandomState()
    const nonce = oauth.generateRandomNonce()
    const authorizationUrl = new URL(as.authorization_endpoint!)
    authorizationUrl.searchParams.set('client_id', client.client_id)
    authorizationUrl.searchParams.set('redirect_uri', callback.redirectUri)
    authorizationUrl.searchParams.set('response_type', 'code')
    authorizationUrl.searchParams.set('scope', 'openid email')
    authorizationUrl.searchParams.set('code_challenge', codeChallenge)
    authorizationUrl.searchParams.set('code_challenge_method', 'S256')
    authorizationUrl.searchParams.set('state', state)
    authorizationUrl.searchParams.set('nonce', nonce)

    // The browser: /authorize → /login (CSRF cookie + token from the form) → POST /login → 303
    // back to /authorize → 303 to the redirect URI with the code.
    const browser = new CookieBrowser(server.url)
    const toLogin = await browser.get(authorizationUrl)
    expect(toLogin.status).toBe(303)
    expect(browser.locationOf(toLogin).pathname).toBe('/login')
    const signedIn = await browser.signIn(toLogin, user.email, user.password)
    expect(signedIn.status, browser.lastHtml).toBe(303)
    const back = browser.locationOf(signedIn)
    expect(back.pathname).toBe('/authorize')
    const toClient = await browser.get(back)
    expect(toClient.status).toBe(303)
    const callbackUrl = browser.locationOf(toClient)
    expect(callbackUrl.href.startsWith(`${callback.redirectUri}?`)).toBe(true)

    // RFC 9207: the server sends iss, and oauth4webapi checks it against the discovered issuer.
    const params = oauth.validateAuthResponse(as, client, callbackUrl, state)
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callback.redirectUri, codeVerifier, insecure)
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true })
    expect(result.token_type).toBe('bearer')
    expect(result.refresh_token).toMatch(/^egr_/)
    const claims = oauth.getValidatedIdTokenClaims(result)!
    expect(claims).toMatchObject({ iss: server.url, aud: clientId, sub: user.id, nonce, email: user.email })
    // oauth4webapi checks the ID token's claims but, from a direct TLS response, not its signature;
    // a relying party that forwards it would, so check that too against the published JWKS.
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!))
    await expect(jwtVerify(result.id_token!, jwks, { issuer: server.url, audience: clientId })).resolves.toBeTruthy()

    const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, result.access_token, insecure))
    expect(userinfo).toMatchObject({ sub: user.id, email: user.email })

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, result.refresh_token!, insecure),
    )
    expect(refreshed.refresh_token).toMatch(/^egr_/)
    expect(refreshed.refresh_token).not.toBe(result.refresh_token)
    const refreshedClaims = oauth.getValidatedIdTokenClaims(refreshed)
    // OIDC Core §12.2: an ID token on refresh keeps iss, sub and aud of the original.
    if (refreshedClaims) expect(refreshedClaims).toMatchObject({ iss: claims.iss, sub: claims.sub, aud: claims.aud })

    // The code is single-use: the same callback again is invalid_grant.
    const replay = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callback.redirectUri, codeVerifier, insecure)
    const err = await responseBodyError(oauth.processAuthorizationCodeResponse(as, client, replay, { expectedNonce: nonce }))
    expect(err.error).toBe('invalid_grant')
  })
})

describe('device authorization through oauth4webapi', () => {
  test('authorization_pending until approved on /device, then tokens', async () => {
    const client: oauth.Client = { client_id: CLI_CLIENT_ID }
    const clientAuth = oauth.None()
    const device = await oauth.processDeviceAuthorizationResponse(
      as,
      client,
      await oauth.deviceAuthorizationRequest(as, client, clientAuth, new URLSearchParams(), insecure),
    )
    expect(device.verification_uri).toBe(`${server.url}/device`)
    expect(device.verification_uri_complete).toBe(`${server.url}/device?user_code=${device.user_code}`)
    expect(device.interval).toBeGreaterThan(0)

    const poll = async () =>
      oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, clientAuth, device.device_code, insecure))

    const pending = await responseBodyError(poll())
    expect(pending.error).toBe('authorization_pending')
    expect(pending.status).toBe(400)

    // The person: open the link, sign in, confirm the code, approve.
    const browser = new CookieBrowser(server.url)
    const toLogin = await browser.get(device.verification_uri_complete!)
    expect(toLogin.status).toBe(303)
    const signedIn = await browser.signIn(toLogin, user.email, user.password)
    expect(signedIn.status, browser.lastHtml).toBe(303)
    const entry = await browser.follow(signedIn)
    expect(entry.status).toBe(200)
    expect(browser.hiddenField('csrf')).toBeTruthy()
    expect(browser.lastHtml).toContain(`value="${device.user_code}"`)
    const confirm = await browser.post('/device', { user_code: device.user_code })
    expect(confirm.status).toBe(200)
    expect(browser.lastHtml).toContain('Approve Evergreen CLI?')
    const decided = await browser.post('/device/decision', { user_code: browser.hiddenField('user_code'), decision: 'approve' })
    expect(decided.status).toBe(200)
    expect(browser.lastHtml).toContain('Device connected')

    // Sooner than `interval` after the first poll (no test clock against a real server); an
    // approved code is answered at any pace, and slow_down only applies while pending.
    const tokens = await poll()
    expect(tokens.token_type).toBe('bearer')
    expect(tokens.refresh_token).toMatch(/^egr_/)
    const request = new Request('http://resource.test/', { headers: { authorization: `Bearer ${tokens.access_token}` } })
    const claims = await oauth.validateJwtAccessToken(as, request, CLI_CLIENT_ID, insecure)
    expect(claims).toMatchObject({ sub: user.id, client_id: CLI_CLIENT_ID })

    // The device code is spent.
    expect((await responseBodyError(poll())).error).toBe('invalid_grant')
  })
})
