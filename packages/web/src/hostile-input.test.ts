import fc from 'fast-check'
import { beforeAll, describe, expect, test } from 'vitest'
import { json } from '../../server/src/test-support/harness.js'
import { safeReturnTo } from './return-to.js'
import { APP, browserFor, createWebFixture, ISSUER, signIn, strongSecret, type WebFixture } from './test-support/fixture.js'
import { createLogoutSigner, logoutClaims, type LogoutSigner } from './test-support/logout-tokens.js'
import { createEvergreenWeb } from './web.js'

// Whatever the cookies, query or body contain, the auth layer answers 2xx/3xx/4xx and never
// throws: no input of the browser's can make it a 500. The service is the real one, healthy.

let f: WebFixture
let signer: LogoutSigner
let genuine: { name: string; value: string }[]
let foreign: { name: string; value: string }[]

beforeAll(async () => {
  f = await createWebFixture()
  signer = await createLogoutSigner(f)
  const b = browserFor(f)
  await signIn(f, b)
  genuine = [...b.jar(APP)].map(([name, value]) => ({ name, value }))
  // Another app on the same host — its own client at the same service and its own secret — with
  // the same cookie names: its sealed cookie cannot be opened, its access token has another aud.
  const client = await json<{ client_id: string; client_secret: string }>(
    await f.svc.admin('POST', '/clients', {
      name: 'other app',
      redirect_uris: [`${APP}/auth/callback`],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      first_party: true,
    }),
    201,
  )
  const other = createEvergreenWeb({ ...f.options, clientId: client.client_id, clientSecret: client.client_secret, sessionSecret: strongSecret() })
  const ob = browserFor({ ...f, app: async (r) => {
    const res = await other.require(r)
    return res.type === 'response' ? res.response : new Response('ok')
  } })
  await signIn(f, ob)
  foreign = [...ob.jar(APP)].map(([name, value]) => ({ name, value }))
  if (foreign.length !== 2 || genuine.length !== 2) throw new Error('setup: expected a session pair for each app')
}, 60_000)

const name = fc.oneof(
  fc.constantFrom('evergreen.at.', 'evergreen.rt.', 'evergreen.tx.', '__Host-evergreen.rt.', 'session', 'evergreen.').chain((p) =>
    fc.oneof(fc.nat({ max: 2_000_000_000 }).map((n) => `${p}${n}`), fc.string({ maxLength: 30 }).map((s) => `${p}${s}`)),
  ),
  fc.string({ maxLength: 20 }),
)
const value = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.base64String({ maxLength: 400 }).map((s) => `v1.${s}`),
    fc.constantFrom(...genuine.map((g) => g.value)).chain((v) => fc.nat({ max: v.length }).map((n) => v.slice(0, n))),
    fc.constantFrom(...genuine.map((g) => g.value)).map((v) => `${v}${v}`),
    fc.nat({ max: 20_000 }).map((n) => 'A'.repeat(n + 4097)),
    fc.constantFrom('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'v1.', 'v1.AAAA', '""', '=;=', '%00', 'ey.ey.ey'),
  )
const pair = () => fc.oneof(
  fc.tuple(name, value()),
  fc.constantFrom(...genuine, ...foreign).map((g) => [g.name, g.value] as [string, string]),
  // Swapped: one of our values under another of our names.
  fc.tuple(fc.constantFrom(...genuine), fc.constantFrom(...genuine)).map(([a, b]) => [a.name, b.value] as [string, string]),
)
const cookieHeader = () => fc.oneof(
  fc.array(pair(), { maxLength: 12 }).map((ps) => ps.map(([n, v]) => `${n}=${v}`).join('; ')),
  fc.string({ maxLength: 500 }),
)
const returnTo = fc.oneof(
  fc.constantFrom('//evil.example', '/\\evil.example', '/%09/evil.example', 'https://evil.example', '/%2F%2Fevil.example', '/\t/evil', '/%5C%5Cevil', '\\\\evil', '/\u3002evil', '/\uff0f\uff0fevil.example', 'http:evil.example', '/%E2%80%AE', '/..//evil'),
  fc.string({ maxLength: 60 }),
  fc.webUrl(),
)
const path = fc.oneof(
  fc.constantFrom('/api/me', '/dashboard', '/', '/auth/logout', '/auth/nope', '/auth/callback?code=x&state=y'),
  returnTo.map((r) => `/auth/login?return_to=${encodeURIComponent(r)}`),
  fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })).map(([c, s]) => `/auth/callback?code=${encodeURIComponent(c)}&state=${encodeURIComponent(s)}&iss=${encodeURIComponent(ISSUER)}`),
)
const headers = fc.record({
  accept: fc.constantFrom('text/html', 'application/json', '*/*', 'application/json;q=abc, text/html;q=0.1', ''),
  'sec-fetch-mode': fc.constantFrom('navigate', 'cors', 'no-cors', 'same-origin', 'bogus'),
})

function checkResponse(res: Response, signOut = false) {
  expect(res.status).toBeGreaterThanOrEqual(200)
  expect(res.status).toBeLessThan(500)
  const location = res.headers.get('location')
  if (location !== null) {
    const target = new URL(location, APP)
    // A sign-out (POST /auth/logout) goes on to the service's end-session endpoint, which the
    // service advertises in discovery (OIDC RP-Initiated Logout); nothing else leaves the app
    // except for /authorize.
    const endSession = signOut && target.href.startsWith(`${ISSUER}/oauth/end-session?`)
    expect(target.origin === new URL(APP).origin || target.href.startsWith(`${ISSUER}/authorize?`) || endSession, target.href).toBe(true)
  }
}

describe('hostile input never makes a 5xx or a throw', () => {
  test('garbled, truncated, swapped, oversized and foreign cookies on every route', async () => {
    await fc.assert(
      fc.asyncProperty(path, cookieHeader(), headers, fc.constantFrom('GET', 'POST'), async (p, cookie, h, method) => {
        let req: Request
        try {
          req = new Request(`${APP}${p}`, { method, headers: { ...h, cookie } })
        } catch {
          return // not a request a server could receive (invalid header bytes)
        }
        const res = await f.app(req)
        checkResponse(res, method === 'POST' && p === '/auth/logout')
        if (res.status === 200 && (p === '/api/me' || p === '/dashboard')) {
          // A session only ever comes from a genuine, intact cookie of this app.
          expect(genuine.some((g) => cookie.includes(`${g.name}=${g.value}`) || cookie.includes(g.value))).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  test('forged and malformed logout tokens are 400 JSON', async () => {
    const forged = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.record({ claims: fc.dictionary(fc.constantFrom('iss', 'aud', 'iat', 'jti', 'events', 'sid', 'sub', 'nonce', 'exp'), fc.jsonValue()), key: fc.constantFrom('published' as const, 'unpublished' as const) }).chain(({ claims, key }) =>
        fc.constant(null).map(() => ({ claims: { ...logoutClaims(f, { sid: 'sid_x' }), ...claims }, key })),
      ),
      fc.constantFrom('alg-none', 'wrong-aud', 'wrong-iss', 'with-nonce', 'no-events', 'unpublished-key'),
    )
    await fc.assert(
      fc.asyncProperty(forged, async (input) => {
        let token: string
        if (typeof input === 'string' && !['alg-none', 'wrong-aud', 'wrong-iss', 'with-nonce', 'no-events', 'unpublished-key'].includes(input)) token = input
        else if (typeof input === 'string') {
          const base = logoutClaims(f, { sid: 'sid_x' })
          const variants: Record<string, () => Promise<string>> = {
            'alg-none': async () => `${btoa(JSON.stringify({ alg: 'none' })).replace(/=/g, '')}.${btoa(JSON.stringify(base)).replace(/=/g, '')}.`,
            'wrong-aud': () => signer.sign({ ...base, aud: 'other' }),
            'wrong-iss': () => signer.sign({ ...base, iss: 'http://evil.test' }),
            'with-nonce': () => signer.sign({ ...base, nonce: 'n' }),
            'no-events': () => signer.sign({ ...base, events: {} }),
            'unpublished-key': () => signer.sign(base, {}, 'unpublished'),
          }
          token = await variants[input]!()
        } else {
          const valid = (input.claims as { events?: unknown }).events
          if (input.key === 'published' && typeof valid === 'object' && valid !== null && 'http://schemas.openid.net/event/backchannel-logout' in valid) return
          token = await signer.sign(input.claims as Record<string, unknown>, {}, input.key)
        }
        const res = await f.app(new Request(`${APP}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString() }))
        expect(res.status).toBe(400)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expect(((await res.json()) as { error: string }).error).toBe('invalid_request')
      }),
      { numRuns: 200 },
    )
  })

  test('return_to: whatever is given, the result is a same-origin path or nothing', () => {
    const origin = new URL('https://dash.example.com')
    fc.assert(
      fc.property(fc.oneof(returnTo, fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `/${s}`), fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`)), (raw) => {
        const out = safeReturnTo(raw, origin)
        if (out === undefined) return
        expect(out.startsWith('/') && !out.startsWith('//') && !out.startsWith('/\\')).toBe(true)
        expect(new URL(out, origin).origin).toBe(origin.origin)
        // eslint-disable-next-line no-control-regex -- the check is for control characters
        expect(/[\u0000-\u001f\u007f\\]/.test(decodeURIComponent(out))).toBe(false)
      }),
      { numRuns: 1000 },
    )
  })

  test('open-redirect attempts in return_to end on the app, at /', async () => {
    for (const raw of ['//evil.example', '/\\evil.example', '/%09/evil.example', 'https://evil.example', '/%2F%2Fevil.example', '/\uff0f\uff0fevil.example']) {
      const b = browserFor(f)
      const res = await signIn(f, b, raw)
      expect(res.status).toBe(303)
      const location = res.headers.get('location')!
      expect(new URL(location, APP).origin).toBe(new URL(APP).origin)
      expect(location.startsWith('/') && !location.startsWith('//')).toBe(true)
    }
  })
})
