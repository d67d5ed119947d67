import { Hono } from 'hono'
import { beforeAll, describe, expect, test } from 'vitest'
import { createDpopKey, type TestDpopKey } from '../../server/src/test-support/dpop-key.js'
import { json, mint, seedUserAndClient } from '../../server/src/test-support/harness.js'
import { WebConfigError } from './errors.js'
import { evergreen, requireSession } from './hono.js'
import { APP, browserFor, createWebFixture, signIn, strongSecret, type WebFixture } from './test-support/fixture.js'
import { createEvergreenWeb, withCookies, type WebSession } from './web.js'

// The dashboard's API routes taking a presented access token (`apiTokens`) besides the cookie
// session, verified by @evergreen/resource: real tokens from the real token service (admin mint,
// then a refresh with a DPoP proof for a DPoP-bound one), its clock moved by hand.

const API = `${APP}/api`
const OTHER = 'https://other.example/api'

let f: WebFixture
let userId: string
let clientId: string
let key: TestDpopKey

/** The app: `web.require`, then a JSON echo of who called and how. */
async function app(request: Request): Promise<Response> {
  const result = await f.web.require(request)
  if (result.type === 'response') return result.response
  return withCookies(Response.json(describeCaller(result.session)), result.headers.getSetCookie())
}

function describeCaller(s: WebSession): Record<string, unknown> {
  return s.via === 'token'
    ? { via: s.via, sub: s.sub, scheme: s.scheme, client_id: s.clientId, scopes: s.scopes, resource: s.resource, aud: s.claims.aud, jkt: s.claims.cnf?.jkt ?? null }
    : { via: s.via, sub: s.sub, email: s.email, has_csrf: s.csrfToken.length > 0 }
}

const get = (headers: Record<string, string> = {}, path = '/api/me') => app(new Request(`${APP}${path}`, { headers }))

function challenge(res: Response, scheme: 'Bearer' | 'DPoP' = 'Bearer'): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? ''
  const at = header.indexOf(`${scheme} `)
  if (at < 0) return {}
  const own = header.slice(at + scheme.length + 1).split(scheme === 'Bearer' ? /, DPoP / : /, Bearer /)[0]!
  return Object.fromEntries([...own.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
}

async function bearerFor(resource: string): Promise<string> {
  return (await mint(f.svc, userId, clientId, { resource })).access_token
}

/** A DPoP-bound access token for the API: a session minted for it, refreshed with a proof. */
async function boundToken(): Promise<string> {
  const session = await mint(f.svc, userId, clientId, { resource: API })
  const res = await f.svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: session.refresh_token }, { dpop: await key.proof() })
  const tokens = await json<{ access_token: string; token_type: string }>(res)
  expect(tokens.token_type).toBe('DPoP')
  return tokens.access_token
}

const apiProof = (token: string, path = '/api/me', htm = 'GET') => key.proof({ htm, htu: `${APP}${path}`, accessToken: token })

beforeAll(async () => {
  f = await createWebFixture({ apiTokens: { resource: API } })
  ;({ userId, clientId } = await seedUserAndClient(f.svc, { allowed_audiences: [API, OTHER], dpop_bound_access_tokens: true }))
  key = await createDpopKey(f.svc.clock.now)
})

describe('Bearer access tokens', () => {
  test('a token for the API resource reaches the route as a token caller with its claims; no cookie is set', async () => {
    const res = await get({ authorization: `Bearer ${await bearerFor(API)}` })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ via: 'token', sub: userId, scheme: 'Bearer', client_id: clientId, scopes: expect.any(Array), resource: API, aud: API, jkt: null })
    expect(res.headers.getSetCookie()).toEqual([])
  })

  test('a token minted for another resource is 401 invalid_token with the API’s resource_metadata', async () => {
    const res = await get({ authorization: `Bearer ${await bearerFor(OTHER)}` })
    expect(res.status).toBe(401)
    expect(challenge(res)).toEqual({
      resource_metadata: `${APP}/.well-known/oauth-protected-resource/api`,
      error: 'invalid_token',
      error_description: 'the access token was issued for another resource',
    })
  })

  test('the dashboard’s own cookie token (aud = its client id) is refused when presented as Bearer', async () => {
    const own = await mint(f.svc, userId, f.clientId)
    expect((await get({ authorization: `Bearer ${own.access_token}` })).status).toBe(401)
  })

  test('apiTokens.scopes: a token without them is 403 insufficient_scope naming them', async () => {
    const scoped = createEvergreenWeb({ ...f.options, apiTokens: { resource: API, scopes: ['dash:read'] } })
    const res = await scoped.handle(new Request(`${APP}/api/me`, { headers: { authorization: `Bearer ${await bearerFor(API)}` } }))
    expect(res.type).toBe('response')
    if (res.type !== 'response') return
    expect(res.response.status).toBe(403)
    expect(challenge(res.response)).toMatchObject({ error: 'insufficient_scope', scope: 'dash:read' })
  })

  test('an expired token is refused on the injected clock', async () => {
    const token = await bearerFor(API)
    expect((await get({ authorization: `Bearer ${token}` })).status).toBe(200)
    f.svc.clock.advance(900 + 6)
    const res = await get({ authorization: `Bearer ${token}` })
    expect(res.status).toBe(401)
    expect(challenge(res).error_description).toBe('the access token expired')
  })

  test('a token of a session ended by back-channel logout is refused (the revocation list)', async () => {
    const session = await mint(f.svc, userId, clientId, { resource: API })
    expect((await get({ authorization: `Bearer ${session.access_token}` })).status).toBe(200)
    await f.web.config.revocationList.revoke({ sid: session.session_id }, 600)
    const res = await get({ authorization: `Bearer ${session.access_token}` })
    expect(res.status).toBe(401)
    expect(challenge(res)).toMatchObject({ error: 'invalid_token' })
  })
})

describe('DPoP-bound access tokens', () => {
  test('with a valid proof of this request: 200, scheme DPoP, bound to the proof key', async () => {
    const token = await boundToken()
    const res = await get({ authorization: `DPoP ${token}`, dpop: await apiProof(token) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ via: 'token', sub: userId, scheme: 'DPoP', jkt: key.jkt })
  })

  test('the same token presented as Bearer is 401: the binding is the point', async () => {
    const res = await get({ authorization: `Bearer ${await boundToken()}` })
    expect(res.status).toBe(401)
    expect(challenge(res)).toMatchObject({ error: 'invalid_token', error_description: 'a DPoP-bound access token must be presented with the DPoP scheme' })
  })

  test('a replayed proof is 401 invalid_dpop_proof on the DPoP challenge', async () => {
    const token = await boundToken()
    const proof = await apiProof(token)
    expect((await get({ authorization: `DPoP ${token}`, dpop: proof })).status).toBe(200)
    const replay = await get({ authorization: `DPoP ${token}`, dpop: proof })
    expect(replay.status).toBe(401)
    expect(challenge(replay, 'DPoP')).toMatchObject({ error: 'invalid_dpop_proof', error_description: 'the DPoP proof was already used' })
  })

  test('a proof for another URL, or without ath of this token, is 401', async () => {
    const token = await boundToken()
    expect((await get({ authorization: `DPoP ${token}`, dpop: await apiProof(token, '/api/other') })).status).toBe(401)
    expect((await get({ authorization: `DPoP ${token}`, dpop: await key.proof({ htm: 'GET', htu: `${APP}/api/me` }) })).status).toBe(401)
  })
})

describe('the cookie path is unchanged, and never a fallback', () => {
  test('no Authorization header: an API request without cookies is the usual 401 session_expired JSON', async () => {
    const res = await get({ accept: 'application/json' })
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'session_expired', login_url: '/auth/login?return_to=%2F' })
    expect(res.headers.get('www-authenticate')).toBeNull()
  })

  test('a signed-in browser is a cookie caller; with a bad token besides its cookies it is refused, cookies untouched', async () => {
    const b = browserFor({ ...f, app })
    expect((await signIn(f, b, '/api/me')).status).toBe(303)
    const me = await b.send(`${APP}/api/me`)
    expect(me.status).toBe(200)
    expect(await me.json()).toEqual({ via: 'cookie', sub: expect.any(String), email: f.email, has_csrf: true })
    const res = await b.send(`${APP}/api/me`, { headers: { authorization: `Bearer ${await bearerFor(OTHER)}` } })
    expect(res.status).toBe(401)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(challenge(res)).toMatchObject({ error: 'invalid_token' })
  })

  test('a navigation with a bad token gets the challenge, not a redirect to login', async () => {
    const res = await get({ authorization: 'Bearer not-a-jwt', accept: 'text/html', 'sec-fetch-mode': 'navigate' }, '/dashboard')
    expect(res.status).toBe(401)
    expect(res.headers.get('location')).toBeNull()
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata=/)
  })

  test('Basic credentials (a proxy in front of the dashboard) are not a token: the cookie path answers', async () => {
    const res = await get({ authorization: 'Basic dXNlcjpwYXNz', accept: 'application/json' })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'session_expired' })
  })

  test('without apiTokens an Authorization header is ignored: cookies alone decide', async () => {
    const plain = createEvergreenWeb({ ...f.options, apiTokens: undefined })
    const res = await plain.handle(new Request(`${APP}/api/me`, { headers: { authorization: `Bearer ${await bearerFor(API)}` } }))
    expect(res).toMatchObject({ type: 'anonymous', reason: 'no_session' })
  })
})

describe('metadata, adapters, configuration', () => {
  test('the API’s protected resource metadata is served (RFC 9728), naming the issuer', async () => {
    const res = await get({}, '/.well-known/oauth-protected-resource/api')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ resource: API, authorization_servers: [f.options.issuer], bearer_methods_supported: ['header'] })
  })

  test('Hono: c.get("evergreen") is the token caller; a refusal never reaches the route', async () => {
    const h = new Hono()
    let reached = 0
    h.use(evergreen(f.web))
    h.get('/api/me', requireSession(), (c) => {
      reached++
      return c.json(describeCaller(c.get('evergreen')!))
    })
    const ok = await h.request(`${APP}/api/me`, { headers: { authorization: `Bearer ${await bearerFor(API)}` } })
    expect(await ok.json()).toMatchObject({ via: 'token', scheme: 'Bearer' })
    const refused = await h.request(`${APP}/api/me`, { headers: { authorization: `Bearer ${await bearerFor(OTHER)}` } })
    expect(refused.status).toBe(401)
    expect(reached).toBe(1)
  })

  test('a bad apiTokens option is a WebConfigError naming it', () => {
    const base = { issuer: 'http://evergreen.test', clientId: 'dash', sessionSecret: strongSecret() }
    for (const [apiTokens, option] of [
      [{ resource: 'not a url' }, 'apiTokens.resource'],
      [{ resource: `${API}#frag` }, 'apiTokens.resource'],
      [{ resource: API, scopes: ['bad scope'] }, 'apiTokens.scopes'],
      [{ resource: API, replayCache: {} }, 'apiTokens.replayCache'],
    ] as const) {
      let err: unknown
      try {
        createEvergreenWeb({ ...base, apiTokens: apiTokens as never })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(WebConfigError)
      expect((err as WebConfigError).problems.map((p) => p.option)).toContain(option)
    }
  })
})
