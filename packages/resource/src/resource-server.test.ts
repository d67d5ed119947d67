import { DPOP_SIGNING_ALGS, hashAccessToken } from '@evergreen/core'
import fc from 'fast-check'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { beforeAll, describe, expect, test } from 'vitest'
import { createTestService, json, mint, seedUserAndClient, type TestService } from '../../server/src/test-support/harness.js'
import { createResourceServer, createMemoryReplayCache, ResourceError, type ResourceServer } from './index.js'

// The helper against the real Evergreen app (real store, real signing keys), reached through
// the injected fetch with the clock moved by hand: no sockets, no sleeps.

const RESOURCE = 'https://mcp.example/mcp'
const OTHER = 'https://other.example/api'
const ISSUER = 'http://evergreen.test'

let svc: TestService
let userId: string
let clientId: string
let fetches: string[]

const fetchEvergreen = (input: RequestInfo | URL, init?: RequestInit) => {
  const req = new Request(input, init)
  fetches.push(new URL(req.url).pathname)
  return Promise.resolve(svc.app.fetch(req))
}

function resourceServer(extra: Partial<Parameters<typeof createResourceServer>[0]> = {}): ResourceServer {
  return createResourceServer({ resource: RESOURCE, issuer: ISSUER, scopes: ['mcp:tools'], now: svc.clock.now, fetch: fetchEvergreen, ...extra })
}

const call = (headers: Record<string, string> = {}, path = '/mcp', method = 'POST') => new Request(`https://mcp.example${path}`, { method, headers })

function challengeParams(res: Response, scheme = 'Bearer'): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? ''
  const part = header.slice(header.indexOf(`${scheme} `)).replace(new RegExp(`^${scheme} `), '')
  const own = scheme === 'Bearer' ? part.split(/, DPoP /)[0]! : part
  return Object.fromEntries([...own.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
}

async function tokenFor(resource: string, scope = 'mcp:tools'): Promise<string> {
  return (await mint(svc, userId, clientId, { resource, scope })).access_token
}

beforeAll(async () => {
  fetches = []
  svc = await createTestService()
  ;({ userId, clientId } = await seedUserAndClient(svc, { allowed_scopes: ['mcp:tools', 'mcp:admin'], allowed_audiences: [RESOURCE, OTHER] }))
})

describe('protected resource metadata (RFC 9728)', () => {
  test('the path-suffixed and the bare well-known URL serve the same document', async () => {
    const rs = resourceServer({ scopesSupported: ['mcp:tools', 'mcp:admin'], resourceName: 'Example MCP' })
    expect(rs.metadataUrl).toBe('https://mcp.example/.well-known/oauth-protected-resource/mcp')
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = rs.metadataResponse(call({}, path, 'GET'))!
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
      expect(await res.json()).toEqual({
        resource: RESOURCE,
        authorization_servers: [ISSUER],
        scopes_supported: ['mcp:tools', 'mcp:admin'],
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
        resource_name: 'Example MCP',
      })
    }
    expect(rs.metadataResponse(call({}, '/.well-known/oauth-protected-resource/other', 'GET'))).toBeUndefined()
    expect(rs.metadataResponse(call({}, '/.well-known/oauth-protected-resource/mcp', 'POST'))!.status).toBe(405)
  })

  test('without DPoP the document advertises no DPoP algorithms', () => {
    expect(resourceServer({ dpop: false }).metadata()).not.toHaveProperty('dpop_signing_alg_values_supported')
  })
})

describe('Bearer access tokens from Evergreen', () => {
  test('a token minted for this resource is accepted and its claims exposed', async () => {
    const rs = resourceServer()
    const token = await tokenFor(RESOURCE)
    const verified = await rs.verify(call({ authorization: `Bearer ${token}` }))
    expect(verified).toMatchObject({ subject: userId, clientId, scopes: ['mcp:tools'], scheme: 'Bearer', resource: RESOURCE })
    expect(verified.claims.iss).toBe(ISSUER)
    const res = await rs.handle(call({ authorization: `Bearer ${token}` }), (_req, t) => Response.json({ sub: t.subject }))
    expect(await res.json()).toEqual({ sub: userId })
  })

  test('no token: 401 with resource_metadata and the scope, no error code (RFC 6750 §3.1)', async () => {
    const res = await resourceServer().handle(call(), () => new Response('reached'))
    expect(res.status).toBe(401)
    const bearer = challengeParams(res)
    expect(bearer).toEqual({ resource_metadata: 'https://mcp.example/.well-known/oauth-protected-resource/mcp', scope: 'mcp:tools' })
    expect(res.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer resource_metadata="[^"]+", scope="mcp:tools", DPoP algs="${DPOP_SIGNING_ALGS.join(' ')}"`))
  })

  test('a token minted for another resource is refused (RFC 8707 audience)', async () => {
    const auth = await resourceServer().authenticate(call({ authorization: `Bearer ${await tokenFor(OTHER)}` }))
    expect(auth.ok).toBe(false)
    if (auth.ok) return
    expect(auth.error.code).toBe('INVALID_TOKEN')
    expect(auth.response.status).toBe(401)
    expect(challengeParams(auth.response)).toMatchObject({ error: 'invalid_token', error_description: 'the access token was issued for another resource' })
  })

  test('an expired token is refused on the injected clock', async () => {
    const rs = resourceServer()
    const token = await tokenFor(RESOURCE)
    await expect(rs.verify(call({ authorization: `Bearer ${token}` }))).resolves.toBeTruthy()
    svc.clock.advance(svc.settings.accessTokenTtl + 6)
    const auth = await rs.authenticate(call({ authorization: `Bearer ${token}` }))
    expect(auth.ok ? 'accepted' : auth.error.description).toBe('the access token expired')
  })

  test('a token not valid yet (nbf) is refused, and accepted once the clock reaches it', async () => {
    const rs = resourceServer()
    const now = svc.clock.now()
    const early = svc.deps.keys.signer().signAccessToken({ iss: ISSUER, sub: userId, aud: RESOURCE, client_id: clientId, scope: 'mcp:tools', iat: now, nbf: now + 60, exp: now + 600 })
    await expect(rs.verify(call({ authorization: `Bearer ${early}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN', description: 'the access token is not valid yet' })
    svc.clock.advance(60)
    await expect(rs.verify(call({ authorization: `Bearer ${early}` }))).resolves.toMatchObject({ subject: userId })
  })

  test('a token naming another issuer is refused; an issuer whose metadata is not found is unavailable, never trusted', async () => {
    const rs = createResourceServer({ resource: RESOURCE, issuer: 'http://evergreen.test/other', now: svc.clock.now, fetch: fetchEvergreen })
    await expect(rs.verify(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }))).rejects.toMatchObject({ code: 'ISSUER_UNAVAILABLE' })
    const now = svc.clock.now()
    const foreign = svc.deps.keys.signer().signAccessToken({ iss: 'https://elsewhere.example', sub: userId, aud: RESOURCE, client_id: clientId, iat: now, exp: now + 600 })
    await expect(resourceServer().verify(call({ authorization: `Bearer ${foreign}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
  })

  test('a token without a required scope gets 403 insufficient_scope naming it', async () => {
    const res = await resourceServer().handle(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }), () => new Response('reached'), { scopes: ['mcp:admin'] })
    expect(res.status).toBe(403)
    expect(challengeParams(res)).toMatchObject({ error: 'insufficient_scope', scope: 'mcp:tools mcp:admin' })
  })

  test('garbage, a forged signature, an ID-token typ and a token in the URL are refused', async () => {
    const rs = resourceServer()
    const token = await tokenFor(RESOURCE)
    const [h, p] = token.split('.')
    const forged = `${h}.${p}.${'A'.repeat(86)}`
    for (const t of ['abc', forged]) {
      await expect(rs.verify(call({ authorization: `Bearer ${t}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
    }
    await expect(rs.verify(call({ authorization: 'Bearer a b' }))).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(rs.verify(call({}, `/mcp?access_token=${token}`))).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    const idTyped = svc.deps.keys.signer().signIdToken({ iss: ISSUER, sub: userId, aud: RESOURCE, client_id: clientId, iat: svc.clock.now(), exp: svc.clock.now() + 60 })
    await expect(rs.verify(call({ authorization: `Bearer ${idTyped}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
  })

  test('the JWKS is fetched once, refetched for an unknown kid at most once per floor', async () => {
    fetches = []
    const rs = resourceServer({ jwksRefetchFloorSeconds: 30 })
    await rs.verify(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }))
    await rs.verify(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }))
    expect(fetches).toEqual(['/.well-known/oauth-authorization-server', '/.well-known/jwks.json'])
    const unknownKid = svc.deps.keys.signer().signAccessToken({ iss: ISSUER, sub: userId, aud: RESOURCE, client_id: clientId, iat: svc.clock.now(), exp: svc.clock.now() + 60 })
      .replace(/^[^.]+/, (h) => Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), kid: 'rotated' })).toString('base64url'))
    await expect(rs.verify(call({ authorization: `Bearer ${unknownKid}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
    expect(fetches).toHaveLength(2)
    svc.clock.advance(31)
    await expect(rs.verify(call({ authorization: `Bearer ${unknownKid}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
    await expect(rs.verify(call({ authorization: `Bearer ${unknownKid}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
    expect(fetches.filter((f) => f === '/.well-known/jwks.json')).toHaveLength(2)
  })

  test('an issuer that cannot be reached is a 503, not the token’s fault, and is not asked again before the floor', async () => {
    let down = true
    let attempts = 0
    const rs = resourceServer({
      jwksRefetchFloorSeconds: 30,
      fetch: (input, init) => {
        attempts++
        return down ? Promise.reject(new TypeError('fetch failed')) : fetchEvergreen(input, init)
      },
    })
    const token = await tokenFor(RESOURCE)
    const res = await rs.handle(call({ authorization: `Bearer ${token}` }), () => new Response('reached'))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    down = false
    await expect(rs.verify(call({ authorization: `Bearer ${token}` }))).rejects.toMatchObject({ code: 'ISSUER_UNAVAILABLE' })
    expect(attempts).toBe(1)
    svc.clock.advance(30)
    await expect(rs.verify(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }))).resolves.toMatchObject({ subject: userId })
  })
})

describe('DPoP-bound access tokens (RFC 9449)', () => {
  let key: CryptoKeyPair
  let jwk: JWK
  let jkt: string

  beforeAll(async () => {
    key = await generateKeyPair('ES256')
    jwk = await exportJWK(key.publicKey)
    jkt = await calculateJwkThumbprint(jwk)
  })

  /** An access token bound to `jkt`, signed by Evergreen's own current key, as its DPoP grant does. */
  function boundToken(thumbprint = jkt): string {
    const now = svc.clock.now()
    return svc.deps.keys.signer().signAccessToken({ iss: ISSUER, sub: userId, aud: RESOURCE, client_id: clientId, scope: 'mcp:tools', iat: now, exp: now + 300, jti: `at-${Math.random()}`, cnf: { jkt: thumbprint } })
  }

  async function proof(token: string, claims: Record<string, unknown> = {}, signWith = key.privateKey, header: JWK = jwk): Promise<string> {
    return new SignJWT({ htm: 'POST', htu: RESOURCE, ath: await hashAccessToken(token), jti: `p-${Math.random()}`, iat: svc.clock.now(), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: header })
      .sign(signWith)
  }

  test('a bound token with a proof of this request is accepted; the same proof again is a replay', async () => {
    const rs = resourceServer()
    const token = boundToken()
    const p = await proof(token)
    const verified = await rs.verify(call({ authorization: `DPoP ${token}`, dpop: p }))
    expect(verified).toMatchObject({ scheme: 'DPoP', subject: userId })
    expect(verified.claims.cnf).toEqual({ jkt })
    const replay = await rs.authenticate(call({ authorization: `DPoP ${token}`, dpop: p }))
    expect(replay.ok ? 'accepted' : replay.error.description).toBe('the DPoP proof was already used')
    if (!replay.ok) {
      expect(replay.response.status).toBe(401)
      expect(challengeParams(replay.response, 'DPoP')).toMatchObject({ error: 'invalid_dpop_proof', algs: DPOP_SIGNING_ALGS.join(' ') })
    }
  })

  test('a bound token presented as Bearer is refused', async () => {
    const auth = await resourceServer().authenticate(call({ authorization: `Bearer ${boundToken()}` }))
    expect(auth.ok ? 'accepted' : auth.error.description).toBe('a DPoP-bound access token must be presented with the DPoP scheme')
  })

  test('wrong proofs are refused: missing, other method, other URL, other token, other key, stale', async () => {
    const rs = resourceServer()
    const token = boundToken()
    const other = await generateKeyPair('ES256')
    const cases: [string, Record<string, string>][] = [
      ['no proof', { authorization: `DPoP ${token}` }],
      ['htm', { authorization: `DPoP ${token}`, dpop: await proof(token, { htm: 'GET' }) }],
      ['htu', { authorization: `DPoP ${token}`, dpop: await proof(token, { htu: 'https://mcp.example/other' }) }],
      ['ath', { authorization: `DPoP ${token}`, dpop: await proof(token, { ath: await hashAccessToken(boundToken()) }) }],
      ['key', { authorization: `DPoP ${token}`, dpop: await proof(token, {}, other.privateKey, await exportJWK(other.publicKey)) }],
      ['iat', { authorization: `DPoP ${token}`, dpop: await proof(token, { iat: svc.clock.now() - 600 }) }],
      ['two proofs', { authorization: `DPoP ${token}`, dpop: `${await proof(token)}, ${await proof(token)}` }],
    ]
    for (const [name, headers] of cases) {
      const auth = await rs.authenticate(call(headers))
      expect(auth.ok ? `${name}: accepted` : auth.error.code, name).toBe('INVALID_DPOP_PROOF')
    }
  })

  test('an unbound token under the DPoP scheme is refused; a resource without DPoP refuses the scheme', async () => {
    const token = await tokenFor(RESOURCE)
    await expect(resourceServer().verify(call({ authorization: `DPoP ${token}`, dpop: await proof(token) }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
    await expect(resourceServer({ dpop: false }).verify(call({ authorization: `DPoP ${boundToken()}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
  })

  test('dpop: required refuses Bearer tokens', async () => {
    const rs = resourceServer({ dpop: 'required' })
    expect(rs.metadata().dpop_bound_access_tokens_required).toBe(true)
    await expect(rs.verify(call({ authorization: `Bearer ${await tokenFor(RESOURCE)}` }))).rejects.toMatchObject({ code: 'INVALID_TOKEN' })
  })
})

describe('the in-memory replay cache', () => {
  test('is bounded: when full of live proofs it refuses rather than forgets; expired ones make room', () => {
    let t = 1000
    const cache = createMemoryReplayCache(() => t, 2)
    expect(cache.use('a', 1060)).toBe(true)
    expect(cache.use('a', 1060)).toBe(false)
    expect(cache.use('b', 1100)).toBe(true)
    expect(() => cache.use('c', 1100)).toThrow(ResourceError)
    t = 1061
    expect(cache.use('c', 1100)).toBe(true)
    expect(cache.use('b', 1100)).toBe(false)
  })
})

test('bad configuration is a TypeError with an ERR_INVALID_ARG code', () => {
  expect(() => createResourceServer({ resource: 'not a url', issuer: ISSUER })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
  expect(() => createResourceServer({ resource: 'https://a.example/#x', issuer: ISSUER })).toThrow(TypeError)
})

// Keeps the helper honest about json(): a 201 from the admin API is what the fixture relies on.
test('the fixture client is bound to the resources used above', async () => {
  const client = await json<{ allowed_audiences: string[] }>(await svc.admin('GET', `/clients/${clientId}`))
  expect(client.allowed_audiences).toEqual([RESOURCE, OTHER])
})

describe('hostile input', () => {
  test('any Authorization and DPoP header gets a 400 or 401 answer with a challenge, never an exception', async () => {
    const rs = resourceServer()
    const token = await tokenFor(RESOURCE)
    const printable = fc.string({ unit: fc.constantFrom(...' !"#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcxyz{|}~'.split('')), maxLength: 300 })
    const authorization = fc.oneof(
      printable,
      printable.map((t) => `Bearer ${t}`),
      printable.map((t) => `DPoP ${t}`),
      printable.map((t) => `Bearer ${token.slice(0, 20)}${t}`),
      fc.constant(`DPoP ${token}`),
    )
    await fc.assert(
      fc.asyncProperty(authorization, fc.option(printable, { nil: undefined }), async (auth, dpop) => {
        const headers: Record<string, string> = { authorization: auth.trim() === '' ? 'x' : auth }
        if (dpop !== undefined && dpop.trim() !== '') headers.dpop = dpop
        const result = await rs.authenticate(call(headers))
        expect(result.ok).toBe(false)
        if (result.ok) return
        expect([400, 401]).toContain(result.response.status)
        expect(result.response.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="https:\/\/mcp\.example\/\.well-known\/oauth-protected-resource\/mcp"/)
      }),
      { numRuns: 300 },
    )
  })
})
