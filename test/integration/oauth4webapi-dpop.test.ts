import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { CookieBrowser } from '../support/cookie-browser.js'
import { createTestUser, startInProcessServer, type InProcessServer, type TestUser } from '../support/in-process-server.js'
import { admin } from '../support/server-process.js'

// DPoP (RFC 9449) with a third-party, standards-strict client: panva/oauth4webapi v3's own DPoP
// support (`oauth.DPoP(client, keyPair)`), unmodified, against the real HTTP server with the
// server nonce on, so its nonce retry is exercised too. Authorization code (bound by dpop_jkt)
// and device flow (bound by dpop_jkt at device authorization), then refreshes, userinfo and a
// resource-server check of the bound access token, and a thief holding a refresh token but not
// the key, who gets nothing and cannot log the owner out.

const insecure = { [oauth.allowInsecureRequests]: true } as const

let server: InProcessServer
let as: oauth.AuthorizationServer
let callback: CallbackServer
let user: TestUser

beforeAll(async () => {
  server = await startInProcessServer({ EVERGREEN_DPOP_NONCE: 'true' })
  callback = await startCallbackServer()
  user = await createTestUser(server, 'o4w-dpop')
  const issuer = new URL(server.url)
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
})

afterAll(async () => {
  await callback?.stop()
  await server?.stop()
})

/** Runs a request/process pair, retrying once when the server asks for a (fresh) DPoP nonce. */
async function withNonceRetry<T>(run: () => Promise<T>): Promise<{ result: T; retried: boolean }> {
  try {
    return { result: await run(), retried: false }
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    return { result: await run(), retried: true }
  }
}

async function rejection(promise: Promise<unknown>): Promise<oauth.ResponseBodyError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(oauth.ResponseBodyError)
  return err as oauth.ResponseBodyError
}

async function publicClient(grantTypes: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const created = await admin<{ client_id: string }>(server, 'POST', '/clients', {
    name: 'o4w DPoP',
    redirect_uris: [callback.redirectUri],
    grant_types: grantTypes,
    token_endpoint_auth_method: 'none',
    first_party: true,
    ...extra,
  })
  return created.client_id
}

describe('oauth4webapi DPoP against the real server', () => {
  test('discovery advertises the proof algorithms', () => {
    expect(as.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'Ed25519', 'EdDSA', 'RS256', 'PS256']))
  })

  test('authorization code with dpop_jkt, nonce retry, DPoP-bound tokens, refresh, userinfo, resource-server validation; a thief gets nothing', async () => {
    const clientId = await publicClient(['authorization_code', 'refresh_token'], { dpop_bound_access_tokens: true, require_dpop: true })
    const client: oauth.Client = { client_id: clientId }
    const clientAuth = oauth.None()
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

    const codeVerifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = new URL(as.authorization_endpoint!)
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: callback.redirectUri,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      dpop_jkt: await DPoP.calculateThumbprint(),
    }).toString()
    const browser = new CookieBrowser(server.url)
    const signedIn = await browser.signIn(await browser.get(url), user.email, user.password)
    const toClient = await browser.get(browser.locationOf(signedIn))
    const params = oauth.validateAuthResponse(as, client, browser.locationOf(toClient), state)

    const { result: tokens, retried } = await withNonceRetry(async () =>
      oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callback.redirectUri, codeVerifier, { ...insecure, DPoP }),
      ),
    )
    // The first attempt had no nonce: the server answered use_dpop_nonce, oauth4webapi kept the
    // nonce from the DPoP-Nonce header, and the retry went through.
    expect(retried).toBe(true)
    expect(tokens.token_type).toBe('dpop')
    expect(tokens.refresh_token).toMatch(/^egr_/)

    // Userinfo as oauth4webapi sends it: Authorization: DPoP plus a proof with ath.
    const claims = oauth.getValidatedIdTokenClaims(tokens)!
    const info = await oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP }))
    expect(info).toMatchObject({ sub: user.id, email: user.email })

    // A resource server using oauth4webapi accepts the bound access token with a proof of the key.
    let captured: Request | undefined
    await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL('http://resource.test/data'), undefined, undefined, {
      ...insecure,
      DPoP,
      [oauth.customFetch]: async (input, init) => {
        // A GET: method and headers are the whole request the resource server would see.
        captured = new Request(input, { method: init.method, headers: init.headers })
        return new Response('{}')
      },
    })
    const validated = await oauth.validateJwtAccessToken(as, captured!, clientId, { ...insecure, requireDPoP: true })
    expect(validated).toMatchObject({ sub: user.id, cnf: { jkt: await DPoP.calculateThumbprint() } })

    // A thief with the refresh token and their own key: refused, again and again.
    const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    for (let i = 0; i < 3; i++) {
      const err = await rejection(
        withNonceRetry(async () =>
          oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, { ...insecure, DPoP: thief })),
        ),
      )
      expect(err.error).toBe('invalid_grant')
      expect(err.cause).toMatchObject({ error_reason: 'dpop_key_mismatch' })
    }
    // Without any key at all (a plain client): invalid_dpop_proof.
    const bare = await rejection(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, insecure)))
    expect(bare.error).toBe('invalid_dpop_proof')

    // The owner's session is untouched: it refreshes, twice, and the access token stays bound.
    let current = tokens.refresh_token!
    for (let i = 0; i < 2; i++) {
      const { result: refreshed } = await withNonceRetry(async () =>
        oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, current, { ...insecure, DPoP })),
      )
      expect(refreshed.token_type).toBe('dpop')
      expect(refreshed.refresh_token).not.toBe(current)
      current = refreshed.refresh_token!
    }
  })

  test('device flow bound by dpop_jkt, then refresh with the same key', async () => {
    const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code'
    const clientId = await publicClient([deviceGrant, 'refresh_token'])
    const client: oauth.Client = { client_id: clientId }
    const clientAuth = oauth.None()
    // An Ed25519 key: oauth4webapi signs its proofs with the fully-specified alg `Ed25519`.
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('Ed25519'))

    // oauth4webapi sends no proof at device authorization; RFC 9449 §10's dpop_jkt binds the code.
    const device = await oauth.processDeviceAuthorizationResponse(
      as,
      client,
      await oauth.deviceAuthorizationRequest(as, client, clientAuth, { dpop_jkt: await DPoP.calculateThumbprint() }, insecure),
    )
    const browser = new CookieBrowser(server.url)
    const signedIn = await browser.signIn(await browser.get(device.verification_uri_complete!), user.email, user.password)
    await browser.follow(signedIn)
    await browser.post('/device', { user_code: device.user_code })
    await browser.post('/device/decision', { user_code: browser.hiddenField('user_code'), decision: 'approve' })
    expect(browser.lastHtml).toContain('Device connected')

    // Polled without the key (a client that lost it, or someone else): refused, code not spent.
    const noKey = await rejection(oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, clientAuth, device.device_code, insecure)))
    expect(noKey.error).toBe('invalid_dpop_proof')

    const { result: tokens } = await withNonceRetry(async () =>
      oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, clientAuth, device.device_code, { ...insecure, DPoP })),
    )
    // dpop_bound_access_tokens is off for this client: the refresh token is bound, the access token is Bearer.
    expect(tokens.token_type).toBe('bearer')
    const { result: refreshed } = await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, { ...insecure, DPoP })),
    )
    expect(refreshed.refresh_token).toMatch(/^egr_/)
    const withoutKey = await rejection(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token!, insecure)))
    expect(withoutKey.error).toBe('invalid_dpop_proof')
  })
})
