import fc from 'fast-check'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ADMIN_KEY, createTestService, json, mint, type TestService } from '../../packages/server/src/test-support/harness.js'
import type { Store } from '../../packages/server/src/store/types.js'
import {
  bodyFor, bodyShapeArb, encode, encodeForm, expectOnlyFailureAudits, fcOptions, fieldsArb, FORM_TYPE, headersFor, headerValueArb, hostileString,
  timeoutFor, TRICKS, type BodyShape, type Dump, type Field,
} from './support.js'

// Generated hostile input against every public endpoint and page of the real app, in process
// with a hand-moved clock. Each case must get the answer its protocol gives to a bad request — a
// 4xx OAuth error, an error page, or the redirect the protocol prescribes — never a 5xx, and
// must leave the database exactly as it was except for audit rows recording a refused attempt.

const ISSUER = 'http://evergreen.test'
const MAX_BODY = 4096
const REDIRECT_URI = 'https://app.example/cb'
const LOGOUT_URI = 'https://app.example/logged-out'
const PASSWORD = 'correct horse battery staple'
const OAUTH_ERRORS = [
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_target',
  'invalid_token', 'temporarily_unavailable', 'authorization_pending', 'slow_down', 'expired_token', 'access_denied', 'insufficient_scope',
]

export interface Backend {
  /** A migrated store for the service, and a way to dump every table of it. */
  open(): Promise<{ store: Store; dump(): Promise<Dump>; close(): Promise<void>; env?: Record<string, string> }>
}

interface World {
  svc: TestService
  dump(): Promise<Dump>
  pub: string
  conf: string
  confSecret: string
  code: string
  device: string
  /** A's refresh token for the public client: only ever sent altered or by the wrong client. */
  rtA: string
  rtConf: string
  rtRevoked: string
  sessionB: string
  accessToken: string
  deviceCode: string
  userCode: string
  /** A signed-in browser (user A): its cookie header and a CSRF token valid for it. */
  cookie: string
  csrf: string
  /** CSRF for a browser that is not signed in: cookie and token. */
  anonCookie: string
  anonCsrf: string
}

interface Sent {
  method: string
  path: string
  headers: Headers
  body?: BodyInit
}

interface Expect {
  /** The statuses this endpoint may answer a bad request with. */
  status: number[]
  /** JSON OAuth error body on 4xx; HTML on pages. */
  kind: 'oauth' | 'page' | 'json-any'
  /** Where a redirect may point: same origin always; these prefixes too. */
  redirectPrefixes?: string[]
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>

/** Tokens that must never be accepted: forged, tampered, re-signed with the wrong claims. */
function hostileJwts(w: World): string[] {
  const [h, p, s] = w.accessToken.split('.') as [string, string, string]
  const header = decode(h)
  const payload = decode(p)
  const signer = w.svc.deps.keys.signer()
  const now = w.svc.clock.now()
  return [
    `${b64url({ alg: 'none', typ: 'at+jwt' })}.${p}.`,
    `${b64url({ ...header, alg: 'none' })}.${p}.${s}`,
    `${b64url({ ...header, kid: 'no-such-kid' })}.${p}.${s}`,
    `${b64url({ ...header, alg: 'HS256' })}.${p}.${s}`,
    `${h}.${b64url({ ...payload, sub: 'usr_someone_else' })}.${s}`,
    `${h}.${b64url({ ...payload, scope: 'openid admin' })}.${s}`,
    `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`,
    `${h}.${p}`,
    `${h}..${s}`,
    signer.signIdToken({ ...payload }),
    signer.signLogoutToken({ ...payload }),
    signer.signAccessToken({ ...payload, iss: 'https://evil.example' }),
    signer.signAccessToken({ ...payload, aud: 'someone-else' }),
    signer.signAccessToken({ ...payload, exp: now - 60, iat: now - 1000 }),
    signer.signAccessToken({ ...payload, sid: w.sessionB, sub: 'usr_nope' }),
    signer.signAccessToken({ ...payload, sid: 'ses_revoked_or_missing' }),
    w.accessToken.replace(/\./g, '.\u200b'),
    `${w.accessToken}\u0000`,
  ]
}

/** Refresh tokens that must never rotate: wrong checksum, truncated, another client's, revoked. */
function hostileRefreshTokens(w: World): string[] {
  const flip = (t: string) => `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`
  return [flip(w.rtA), w.rtA.slice(0, -3), `${w.rtA}x`, w.rtA.toUpperCase(), w.rtRevoked, flip(w.rtRevoked), 'egr_' + 'A'.repeat(43), `${w.rtA}\u0000`]
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`
}

/** Client authentication, always with a defect when it names the confidential client. */
type Auth = { fields: Field[]; headers: Record<string, string> }
function clientAuthArb(w: World): fc.Arbitrary<Auth> {
  return fc.oneof<fc.Arbitrary<Auth>[]>(
    fc.constant<Auth>({ fields: [{ name: 'client_id', value: w.pub }], headers: {} }),
    fc.constant<Auth>({ fields: [{ name: 'client_id', value: w.device }], headers: {} }),
    fc.constant<Auth>({ fields: [], headers: {} }),
    hostileString.map((id) => ({ fields: [{ name: 'client_id', value: id }], headers: {} })),
    fc.constant<Auth>({ fields: [{ name: 'client_id', value: w.conf }, { name: 'client_secret', value: `${w.confSecret}x` }], headers: {} }),
    fc.constant<Auth>({ fields: [], headers: { authorization: basic(w.conf, w.confSecret.slice(1)) } }),
    fc.constant<Auth>({ fields: [{ name: 'client_id', value: w.pub }], headers: { authorization: basic(w.conf, `${w.confSecret}!`) } }),
    headerValueArb.map((v) => ({ fields: [], headers: { authorization: `Basic ${v}` } })),
    hostileString.map((v) => ({ fields: [], headers: { authorization: basic(v, w.confSecret) } })),
    // The right secret, presented twice: in the header and in the body.
    fc.constant<Auth>({ fields: [{ name: 'client_secret', value: w.confSecret }], headers: { authorization: basic(w.conf, w.confSecret) } }),
  )
}

function form(path: string, fields: Field[], shape: BodyShape, headers: Record<string, string> = {}): Sent {
  return { method: 'POST', path, headers: headersFor(shape, headers), body: bodyFor(fields, shape, MAX_BODY) }
}

function query(fields: Field[]): string {
  const q = encodeForm(fields)
  return q ? `?${q}` : ''
}

// ---- the properties: one per endpoint, each a generator of requests and what may come back

interface Property {
  name: string
  arb: (w: World) => fc.Arbitrary<Sent>
  expect: Expect
  /** How many cases of the full run this endpoint gets, relative to RUNS (default 1). */
  scale?: number
}

const OAUTH_4XX = [400, 401, 405, 413, 415]
const PAGE_4XX = [400, 403, 404, 405, 409, 413, 415, 429]

export const PROPERTIES: Property[] = [
  {
    name: 'POST /oauth/token (every grant)',
    expect: { status: OAUTH_4XX, kind: 'oauth' },
    arb: (w) => {
      const rts = hostileRefreshTokens(w)
      const grant = fc.oneof(
        fieldsArb({ grant_type: fc.constant('refresh_token'), refresh_token: fc.constantFrom(...rts), scope: fc.constantFrom('openid', 'admin', '') }),
        // Another client's refresh token, presented by the public client.
        fieldsArb({ grant_type: fc.constant('refresh_token'), refresh_token: fc.constant(w.rtConf) }),
        fieldsArb({ grant_type: fc.constant('authorization_code'), code: hostileString, redirect_uri: fc.constantFrom(REDIRECT_URI, `${REDIRECT_URI}/x`, 'https://evil.example/cb'), code_verifier: hostileString }),
        fieldsArb({ grant_type: fc.constant('client_credentials'), scope: hostileString, audience: hostileString }),
        fieldsArb({ grant_type: fc.constant('urn:ietf:params:oauth:grant-type:device_code'), device_code: fc.oneof(hostileString, fc.constant(`${w.deviceCode}x`), fc.constant(w.deviceCode.slice(0, -1))) }),
        fieldsArb({ grant_type: fc.constant('urn:ietf:params:oauth:grant-type:token-exchange'), subject_token: fc.constantFrom(...hostileJwts(w)), subject_token_type: hostileString, actor_token: hostileString }),
        fieldsArb({ grant_type: fc.oneof(hostileString, fc.constantFrom('password', 'implicit', 'REFRESH_TOKEN', 'refresh_token ')) }),
      )
      return fc.tuple(grant, clientAuthArb(w), bodyShapeArb, fc.option(fc.constantFrom(...rts), { nil: undefined })).map(([fields, auth, shape, header]) =>
        form('/oauth/token', [...fields, ...auth.fields], shape, { ...auth.headers, ...(header ? { 'evergreen-refresh-token': header } : {}) }),
      )
    },
  },
  {
    name: 'POST /oauth/revoke',
    // RFC 7009 §2.2: an invalid or unknown token is answered 200, changing nothing.
    expect: { status: [200, ...OAUTH_4XX], kind: 'oauth' },
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({ token: fc.oneof(fc.constantFrom(...hostileRefreshTokens(w), ...hostileJwts(w), w.rtConf, w.rtA), hostileString), token_type_hint: fc.constantFrom('refresh_token', 'access_token', 'id_token', 'x') }),
          clientAuthArb(w),
          bodyShapeArb,
        )
        // A's own token with the public client is a legitimate revocation: that pair is never sent.
        .filter(([fields, auth]) => !(fields.some((f) => f.value === w.rtA) && auth.fields.some((f) => f.value === w.pub) && !auth.headers.authorization))
        .map(([fields, auth, shape]) => form('/oauth/revoke', [...fields, ...auth.fields], shape, auth.headers)),
  },
  {
    name: 'POST /oauth/introspect',
    expect: { status: [200, ...OAUTH_4XX], kind: 'oauth' },
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({ token: fc.oneof(fc.constantFrom(...hostileRefreshTokens(w), ...hostileJwts(w)), hostileString), token_type_hint: hostileString }),
          fc.oneof(clientAuthArb(w), fc.constant<Auth>({ fields: [], headers: { authorization: basic(w.conf, w.confSecret) } })),
          bodyShapeArb,
        )
        .map(([fields, auth, shape]) => form('/oauth/introspect', [...fields, ...auth.fields], shape, auth.headers)),
  },
  {
    name: 'POST /oauth/device_authorization',
    expect: { status: OAUTH_4XX, kind: 'oauth' },
    // Always a defect in the client: a well-formed request from the device client would
    // legitimately create a device code.
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({ client_id: fc.oneof(hostileString, fc.constantFrom(w.pub, w.code, `${w.device} `, w.device.toUpperCase())), scope: hostileString }),
          bodyShapeArb,
        )
        .filter(([fields]) => !fields.some((f) => f.name === 'client_id' && f.value === w.device))
        .map(([fields, shape]) => form('/oauth/device_authorization', fields, shape)),
  },
  {
    name: 'GET and POST /userinfo',
    expect: { status: [400, 401, 403, 405, 413, 415], kind: 'json-any' },
    arb: (w) =>
      fc
        .tuple(
          fc.constantFrom('GET', 'POST'),
          fc.oneof(
            fc.constantFrom(...hostileJwts(w)).map((t) => `Bearer ${t}`),
            headerValueArb.map((v) => `Bearer ${v}`),
            headerValueArb,
            fc.constantFrom('Bearer', 'Bearer  ', `bearer ${w.accessToken} extra`, `Basic ${w.accessToken}`, `Bearer ${w.rtA}`, `DPoP ${w.accessToken}`),
          ),
          fc.option(fc.constantFrom(...hostileJwts(w)), { nil: undefined }),
          bodyShapeArb,
        )
        .map(([method, authorization, bodyToken, shape]) =>
          method === 'GET'
            ? { method, path: '/userinfo', headers: headersFor({ kind: 'form', contentType: undefined }, { authorization }) }
            : form('/userinfo', bodyToken ? [{ name: 'access_token', value: bodyToken }] : [], shape, { authorization }),
        ),
  },
  {
    name: 'GET and POST /oauth/end-session, POST /oauth/end-session/confirm',
    // OpenID RP-Initiated Logout: a confirmation page, an error page, or a redirect to a
    // registered post_logout_redirect_uri; never a sign-out on a forged hint.
    expect: { status: [200, 303, ...PAGE_4XX], kind: 'page', redirectPrefixes: [LOGOUT_URI] },
    arb: (w) =>
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'CONFIRM'),
          fieldsArb({
            id_token_hint: fc.constantFrom(...hostileJwts(w)),
            post_logout_redirect_uri: fc.oneof(fc.constantFrom(LOGOUT_URI, `${LOGOUT_URI}/x`, 'https://evil.example/', `${LOGOUT_URI}#x`), hostileString),
            client_id: fc.constantFrom(w.code, w.pub, 'cli_nope'),
            state: hostileString,
            csrf: fc.constantFrom('', 'x', w.anonCsrf.slice(1)),
          }),
          fc.boolean(),
          bodyShapeArb,
        )
        .map(([how, fields, signedIn, shape]) => {
          const cookie = signedIn ? w.cookie : w.anonCookie
          if (how === 'GET') return { method: 'GET', path: `/oauth/end-session${query(fields)}`, headers: new Headers({ cookie }) }
          return form(how === 'POST' ? '/oauth/end-session' : '/oauth/end-session/confirm', fields, shape, { cookie, origin: ISSUER })
        }),
  },
  {
    name: 'GET /authorize',
    // RFC 6749 §4.1.2.1: with a valid client and redirect URI, errors go back to the client;
    // otherwise the user sees an error page. Signed out, the answer is the login page.
    expect: { status: [303, 302, 400, 404], kind: 'page', redirectPrefixes: [`${REDIRECT_URI}?`] },
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({
            response_type: fc.constantFrom('code', 'token', 'code id_token', 'CODE'),
            client_id: fc.constantFrom(w.code, w.pub, w.conf, 'cli_nope'),
            redirect_uri: fc.constantFrom(REDIRECT_URI, `${REDIRECT_URI}/../evil`, 'https://evil.example/cb', `${REDIRECT_URI}#f`, `${REDIRECT_URI}?x=1`),
            code_challenge: fc.oneof(fc.constant('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'), hostileString),
            code_challenge_method: fc.constantFrom('S256', 'plain', 's256', ''),
            scope: fc.oneof(fc.constantFrom('openid', 'openid admin'), hostileString),
            state: hostileString,
            nonce: hostileString,
            prompt: fc.constantFrom('none', 'login', 'consent', 'x'),
          }),
          fc.boolean(),
        )
        // Signed in, a request with every part valid would issue a code (first-party) or show
        // consent: those are not bad requests, so a defect is forced in the signed-in cases.
        .map(([fields, signedIn]) => ({
          method: 'GET',
          path: `/authorize${query(signedIn ? [...fields, { name: 'code_challenge_method', value: 'plain' }] : fields)}`,
          headers: new Headers(signedIn ? { cookie: w.cookie } : {}),
        })),
  },
  {
    name: 'POST /authorize (the consent decision)',
    expect: { status: [303, 302, ...PAGE_4XX], kind: 'page', redirectPrefixes: [`${REDIRECT_URI}?`] },
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({
            csrf: fc.constantFrom(w.csrf, '', 'x', w.anonCsrf),
            decision: fc.constantFrom('approve', 'deny', 'APPROVE'),
            client_id: fc.constantFrom(w.code, 'cli_nope'),
            redirect_uri: fc.constantFrom('https://evil.example/cb', `${REDIRECT_URI}/x`),
            response_type: fc.constantFrom('code', 'token'),
            code_challenge: hostileString,
            code_challenge_method: fc.constantFrom('S256', 'plain'),
            state: hostileString,
          }),
          bodyShapeArb,
        )
        .map(([fields, shape]) => form('/authorize', fields, shape, { cookie: w.cookie, origin: ISSUER })),
  },
  {
    name: 'GET /login',
    expect: { status: [200, 303], kind: 'page' },
    arb: (w) =>
      fc
        .tuple(fieldsArb({ return_to: fc.oneof(fc.constantFrom(...TRICKS), hostileString) }), fc.boolean())
        .map(([fields, signedIn]) => ({ method: 'GET', path: `/login${query(fields)}`, headers: new Headers(signedIn ? { cookie: w.cookie } : {}) })),
  },
  {
    name: 'POST /login',
    // Never a sign-in: every password is wrong, so 401 (or a 4xx for the form itself).
    expect: { status: [401, ...PAGE_4XX], kind: 'page' },
    scale: 1,
    arb: (w) =>
      fc
        .tuple(
          fieldsArb({
            csrf: fc.constantFrom(w.anonCsrf, w.anonCsrf, '', 'x'),
            email: fc.oneof(fc.constantFrom('ada@example.com', 'ADA@example.com', ' ada@example.com ', 'ａｄａ@example.com', 'ada@exаmple.com', 'ada@example.com\u0000'), hostileString),
            password: fc.oneof(fc.constantFrom(`${PASSWORD} `, PASSWORD.toUpperCase(), `${PASSWORD}\u0000`, PASSWORD.normalize('NFD') + '\u0301'), hostileString),
            return_to: hostileString,
          }),
          bodyShapeArb,
          fc.constantFrom(ISSUER, 'https://evil.example', 'null', undefined),
        )
        .map(([fields, shape, origin]) => form('/login', fields, shape, { cookie: w.anonCookie, ...(origin ? { origin } : {}) })),
  },
  {
    name: 'GET and POST /logout',
    expect: { status: [200, ...PAGE_4XX], kind: 'page' },
    arb: (w) =>
      fc
        // Not the pre-login token: it is bound to this browser's own pre-login cookie, which a
        // forger cannot read, and sign-out accepts it by design (readPageForm without signedIn).
        .tuple(fc.constantFrom('GET', 'POST'), fieldsArb({ csrf: fc.constantFrom('', 'x', `${w.anonCsrf}x`, w.csrf.slice(0, -1)) }), bodyShapeArb, fc.constantFrom(ISSUER, 'https://evil.example', undefined))
        .map(([method, fields, shape, origin]) =>
          method === 'GET' ? { method, path: `/logout${query(fields)}`, headers: new Headers({ cookie: w.cookie }) } : form('/logout', fields, shape, { cookie: w.cookie, ...(origin ? { origin } : {}) }),
        ),
  },
  {
    name: 'GET and POST /device, POST /device/decision',
    // Unicode tricks in user codes: at worst a look-alike of the real code reaches the approval
    // page (200, nothing decided); a decision on anything but the real code changes nothing.
    expect: { status: [200, 303, ...PAGE_4XX], kind: 'page' },
    arb: (w) => {
      const code = w.userCode
      const lookAlikes = [
        code.toLowerCase(), `${code.slice(0, 4)}-${code.slice(4)}`, ` ${code} `, code.replace(/S/g, 'ſ'), [...code].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
        `${code.slice(0, 4)}\u2011${code.slice(4)}`, `${code}\u200b`, `${code.slice(0, 7)}\u0301`, code.replace(/K/g, '\u212a'),
      ]
      return fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'DECIDE'),
          fieldsArb({ csrf: fc.constantFrom(w.csrf, w.csrf, '', 'x'), user_code: fc.oneof(fc.constantFrom(...lookAlikes), hostileString), decision: fc.constantFrom('approve', 'deny', 'x') }),
          fc.boolean(),
          bodyShapeArb,
        )
        .filter(([how, fields]) => how !== 'DECIDE' || !fields.some((f) => f.name === 'user_code' && lookAlikes.includes(f.value)))
        .map(([how, fields, signedIn, shape]) => {
          const cookie = signedIn ? w.cookie : w.anonCookie
          if (how === 'GET') return { method: 'GET', path: `/device${query(fields)}`, headers: new Headers({ cookie }) }
          return form(how === 'POST' ? '/device' : '/device/decision', fields, shape, { cookie, origin: ISSUER })
        })
    },
  },
  {
    name: 'GET /settings/sessions and POST its revoke routes',
    // Someone else's session id answers like an unknown one (404); revoke-all is only ever sent
    // with a bad CSRF token, as a valid one would legitimately sign A out everywhere.
    expect: { status: [200, 303, ...PAGE_4XX], kind: 'page' },
    arb: (w) =>
      fc
        .tuple(
          fc.constantFrom('GET', 'REVOKE', 'REVOKE_ALL'),
          fieldsArb({ csrf: fc.constantFrom(w.csrf, '', 'x', w.anonCsrf), session_id: fc.oneof(fc.constantFrom(w.sessionB, `${w.sessionB} `, w.sessionB.toUpperCase(), 'ses_nope'), hostileString), revoked: hostileString }),
          fc.boolean(),
          bodyShapeArb,
        )
        .map(([how, fields, signedIn, shape]) => {
          const cookie = signedIn ? w.cookie : w.anonCookie
          if (how === 'GET') return { method: 'GET', path: `/settings/sessions${query(fields)}`, headers: new Headers({ cookie }) }
          if (how === 'REVOKE') return form('/settings/sessions/revoke', fields, shape, { cookie, origin: ISSUER })
          return form('/settings/sessions/revoke-all', fields.filter((f) => f.name !== 'csrf' || f.value !== w.csrf), shape, { cookie, origin: ISSUER })
        }),
  },
  {
    name: 'GET and POST /settings/cli',
    // POST only with a bad CSRF token or from a foreign origin: a valid one mints a credential.
    expect: { status: [200, 303, ...PAGE_4XX], kind: 'page' },
    arb: (w) =>
      fc
        .tuple(
          fc.constantFrom('GET', 'POST'),
          fieldsArb({ csrf: fc.constantFrom('', 'x', w.anonCsrf, `${w.csrf}x`), name: hostileString, lifetime: hostileString }),
          fc.boolean(),
          bodyShapeArb,
        )
        .map(([method, fields, signedIn, shape]) => {
          const cookie = signedIn ? w.cookie : w.anonCookie
          return method === 'GET' ? { method, path: `/settings/cli${query(fields)}`, headers: new Headers({ cookie }) } : form('/settings/cli', fields, shape, { cookie, origin: ISSUER })
        }),
  },
  {
    name: 'discovery and JWKS',
    // `/.well-known/%2e%2e/admin/…` is `/admin/…` to the URL parser: 401 without the key, or 400
    // for a NUL in its query, which the admin API refuses before it checks the key.
    expect: { status: [200, 400, 401, 404, 405], kind: 'json-any' },
    arb: () =>
      fc
        .tuple(
          fc.constantFrom('/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json', '/.well-known/jwks.json/', '/.well-known/%2e%2e/admin/v1/users'),
          fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
          fieldsArb({ x: hostileString }),
          headerValueArb,
        )
        .map(([path, method, fields, accept]) => ({ method, path: `${path}${query(fields)}`, headers: new Headers({ accept, 'if-none-match': accept }) })),
  },
  {
    name: '/admin/v1/* without the key (or with a wrong one)',
    expect: { status: [401, 404, 429], kind: 'oauth' },
    arb: (w) =>
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE'),
          fc.constantFrom('/users', '/clients', `/clients/${w.pub}`, '/tokens', '/sessions', `/sessions/${w.sessionB}`, '/audit', '/keys', '/keys/rotate', '/nothing'),
          fc.oneof(fc.constant(undefined), headerValueArb.map((v) => `Bearer ${v}`), fc.constantFrom('Bearer ', `Bearer ${'ega_'.padEnd(40, 'x')}`, 'Basic YWRtaW46YWRtaW4=', `bearer  ${w.csrf}`)),
          fc.jsonValue(),
        )
        .map(([method, path, authorization, body]) => ({
          method,
          path: `/admin/v1${path}`,
          headers: new Headers({ ...(authorization ? { authorization } : {}), ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }) }),
          ...(method === 'GET' || method === 'DELETE' ? {} : { body: JSON.stringify(body) }),
        })),
  },
  {
    name: '/admin/v1/* with the key, hostile bodies and parameters',
    // Each body carries at least one defect (a wrong type, an unknown field, an oversized value),
    // so nothing is ever created: a valid admin request is not hostile input.
    expect: { status: [200, 400, 404, 405, 409, 413, 415], kind: 'json-any' },
    arb: (w) => {
      const defect = fc.oneof(
        fc.record({ email: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string()), fc.constantFrom('no-at-sign', 'a@b\r\nx', 'nul\u0000@example.com', `${'x'.repeat(300)}@example.com`)) }),
        fc.record({ __proto__x: fc.jsonValue() }).map((o) => JSON.parse(JSON.stringify(o).replace('__proto__x', '__proto__')) as Record<string, unknown>),
        fc.record({ unknown_field: fc.jsonValue() }),
        fc.record({ name: fc.oneof(fc.integer(), fc.constant('x'.repeat(201)), fc.constant({})) }),
        fc.record({ redirect_uris: fc.oneof(fc.constant('https://a.example/cb'), fc.array(fc.constantFrom(...TRICKS), { minLength: 1, maxLength: 2 })) }),
        fc.record({ refresh_token_ttl: fc.oneof(fc.double(), fc.constant(-1), fc.constant('3600'), fc.constant(1e300)) }),
        fc.record({ grant_types: fc.oneof(fc.constant([]), fc.constant(['password']), fc.constant('refresh_token')) }),
      )
      const route = fc.oneof(
        fc.tuple(fc.constant('POST'), fc.constantFrom('/users', '/clients', '/tokens', '/keys/rotate')),
        fc.tuple(fc.constant('PATCH'), fc.constantFrom(`/clients/${w.pub}`, '/clients/cli_nope', `/clients/${encodeURIComponent('\u202e')}`)),
        fc.tuple(fc.constant('DELETE'), fc.constantFrom('/clients/cli_nope', '/sessions/ses_nope', '/sessions/%00', '/sessions/%E0%A4%A', `/sessions/${w.sessionB}x`)),
        fc.tuple(fc.constant('GET'), fc.constantFrom('/users', '/sessions', '/audit', '/clients').chain((p) => fieldsArb({ cursor: hostileString, limit: hostileString, user: hostileString, active: hostileString, type: hostileString }).map((f) => `${p}${query(f)}`))),
        fc.tuple(fc.constant('GET'), hostileString.map((s) => `/users/${encode(s)}`)),
      )
      return fc.tuple(route, defect, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', FORM_TYPE, undefined), fc.boolean()).map(([[method, path], body, type, raw]) => ({
        method,
        path: `/admin/v1${path}`,
        headers: new Headers({ authorization: `Bearer ${ADMIN_KEY}`, ...(type ? { 'content-type': type } : {}) }),
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: raw ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body) }),
      }))
    },
  },
]

/** Cookies from a response, as a `Cookie` header fragment. */
function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((l) => l.split(';')[0]!)
    .filter((p) => !p.endsWith('='))
    .join('; ')
}
const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)![1]!

async function buildWorld(svc: TestService, dump: () => Promise<Dump>): Promise<World> {
  const users = []
  for (const email of ['ada@example.com', 'bob@example.com']) users.push(await json<{ id: string }>(await svc.admin('POST', '/users', { email, password: PASSWORD }), 201))
  const client = async (body: Record<string, unknown>) => json<{ client_id: string; client_secret?: string }>(await svc.admin('POST', '/clients', body), 201)
  const pub = await client({ name: 'public', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' })
  const conf = await client({ name: 'confidential', grant_types: ['refresh_token', 'client_credentials'], token_endpoint_auth_method: 'client_secret_basic' })
  const code = await client({ name: 'web app', grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT_URI], post_logout_redirect_uris: [LOGOUT_URI] })
  const device = await client({ name: 'tv', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], token_endpoint_auth_method: 'none' })
  const sA = await mint(svc, users[0]!.id, pub.client_id)
  const sB = await mint(svc, users[1]!.id, pub.client_id)
  const sConf = await mint(svc, users[0]!.id, conf.client_id)
  const sRevoked = await mint(svc, users[0]!.id, pub.client_id)
  expect((await svc.admin('DELETE', `/sessions/${sRevoked.session_id}`)).status).toBe(200)
  const da = await json<{ device_code: string; user_code: string }>(await svc.form('/oauth/device_authorization', { client_id: device.client_id }))

  // A signed-in browser for A, and a signed-out one with its own CSRF cookie.
  const anon = await svc.fetch('/login')
  const anonCookie = cookiesOf(anon)
  const anonCsrf = csrfOf(await anon.text())
  const signIn = await svc.fetch('/login', {
    method: 'POST',
    headers: { 'content-type': FORM_TYPE, cookie: anonCookie, origin: ISSUER },
    body: new URLSearchParams({ csrf: anonCsrf, email: 'ada@example.com', password: PASSWORD }),
  })
  expect(signIn.status).toBe(303)
  const cookie = [anonCookie, cookiesOf(signIn)].join('; ')
  const settings = await svc.fetch('/settings/sessions', { headers: { cookie } })
  expect(settings.status).toBe(200)
  const signedCookie = [cookie, cookiesOf(settings)].filter(Boolean).join('; ')
  return {
    svc, dump, pub: pub.client_id, conf: conf.client_id, confSecret: conf.client_secret!, code: code.client_id, device: device.client_id,
    rtA: sA.refresh_token, rtConf: sConf.refresh_token, rtRevoked: sRevoked.refresh_token, sessionB: sB.session_id, accessToken: sA.access_token,
    deviceCode: da.device_code, userCode: da.user_code.replace('-', ''), cookie: signedCookie, csrf: csrfOf(await settings.text()), anonCookie, anonCsrf,
  }
}

/** The checks every answer to a hostile request must pass. */
async function checkAnswer(res: Response, e: Expect, label: string): Promise<void> {
  const text = await res.text()
  const detail = `${label} → ${res.status} ${text.slice(0, 300)}`
  expect(res.status, detail).toBeLessThan(500)
  expect(e.status, detail).toContain(res.status)
  const type = res.headers.get('content-type') ?? ''
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location') ?? ''
    const target = new URL(location, ISSUER)
    const allowed = target.origin === ISSUER || (e.redirectPrefixes ?? []).some((p) => location.startsWith(p))
    expect(allowed, `${detail}: redirect to ${location}`).toBe(true)
    if (target.origin !== ISSUER) expect(location, detail).toMatch(/[?&]error=/)
  }
  if (res.status >= 400 && e.kind === 'oauth') {
    expect(type, detail).toMatch(/^application\/json/)
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown }
    expect(OAUTH_ERRORS, detail).toContain(body.error)
    expect(typeof body.error_description, detail).toBe('string')
  }
  if (res.status >= 400 && e.kind === 'page') expect(type, detail).toMatch(/^(text\/html|application\/json)/)
  if (res.status === 429 || res.status === 503) expect(res.headers.get('retry-after'), detail).toMatch(/^\d+$/)
  // An error page or redirect must never be built from an unvalidated value into a header.
  for (const [k, v] of res.headers) expect(/[\r\n]/.test(v), `${detail}: header ${k}`).toBe(false)
  // A page may reflect input only escaped.
  if (type.startsWith('text/html')) expect(text, detail).not.toMatch(/<script>alert|<img src=x/)
}

/**
 * Defines the whole hostile suite against one backend: every property, then a check that the
 * service is still up and the untouched refresh token still rotates.
 */
export function defineHostileSuite(backend: Backend, runs: number): void {
  let w: World
  let closeBackend: () => Promise<void>

  beforeAll(async () => {
    const opened = await backend.open()
    closeBackend = opened.close
    const svc = await createTestService({
      store: opened.store,
      env: { EVERGREEN_MAX_BODY_BYTES: String(MAX_BODY), EVERGREEN_RATE_LIMIT_LOGIN: '0', EVERGREEN_RATE_LIMIT_DEVICE: '0', EVERGREEN_RATE_LIMIT_ADMIN: '0', ...opened.env },
    })
    w = await buildWorld(svc, opened.dump)
  }, 60_000)

  afterAll(async () => {
    await w?.svc.close()
    await closeBackend?.()
  })

  for (const p of PROPERTIES) {
    const n = Math.max(1, Math.round(runs * (p.scale ?? 1)))
    test(`${p.name}: ${n} generated cases, each a 4xx, error page or protocol redirect, nothing changed`, async () => {
      await fc.assert(
        fc.asyncProperty(p.arb(w), async (sent) => {
          const label = `${sent.method} ${sent.path.slice(0, 200)}`
          const before = await w.dump()
          const init: RequestInit & { duplex?: 'half' } = { method: sent.method, headers: sent.headers }
          if (sent.body !== undefined && sent.method !== 'GET' && sent.method !== 'HEAD') init.body = sent.body
          const res = await w.svc.fetch(sent.path, init)
          await checkAnswer(res, p.expect, label)
          expectOnlyFailureAudits(before, await w.dump(), label)
        }),
        fcOptions(n),
      )
    }, timeoutFor(n))
  }

  test('afterwards the service is up and the untouched refresh token still rotates', async () => {
    expect((await w.svc.fetch('/readyz')).status).toBe(200)
    const res = await w.svc.form('/oauth/token', { grant_type: 'refresh_token', client_id: w.pub, refresh_token: w.rtA })
    expect(res.status, await res.clone().text()).toBe(200)
  })
}
