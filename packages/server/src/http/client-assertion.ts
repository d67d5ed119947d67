import { CLIENT_ASSERTION_ALGS, OAuthError } from '@evergreen/core'
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from 'jose'
import type { ClientRecord, Store } from '../store/types.js'
import { readBounded } from './bounded-body.js'

/** What verifying a client assertion needs from the service. */
export interface AssertionDeps {
  now(): number
  store: Store
  settings: { issuer: string }
  /** Fetches `jwks_uri`; the global fetch in production. */
  fetch?: typeof fetch
  /**
   * The SSRF-guarded fetcher (clients/document-fetch.ts): a self-registered client's `jwks_uri`
   * is a URL a stranger chose, so its keys are fetched only through it, never through `fetch`.
   */
  fetchClientDocument?: (url: string) => Promise<{ body: Uint8Array }>
}

/** An assertion may be valid for at most this long ahead: it is a one-request proof, not a token. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300
/** Tolerated clock difference between the client and us, for `iat`, `nbf` and `exp`. */
const CLOCK_SKEW_SECONDS = 30
/** A JWKS document larger than this is refused: a client's few keys fit in a fraction of it. */
export const MAX_JWKS_BYTES = 64 * 1024
const JWKS_TIMEOUT_MS = 5_000
/** Keys fetched from a `jwks_uri` are reused this long before they are fetched again. */
const JWKS_CACHE_MS = 10 * 60_000

/**
 * Verifies a `private_key_jwt` client assertion (RFC 7523 §3, OIDC Core §9) for `client` and
 * records its `jti`, so the same assertion cannot authenticate twice. Any failure is
 * `invalid_client` 401; the reason goes to the error's cause, for logs only.
 *
 * @example
 * await verifyClientAssertion(deps, client, form.get('client_assertion')!)
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function verifyClientAssertion(deps: AssertionDeps, client: ClientRecord, assertion: string): Promise<void> {
  const now = deps.now()
  const keys = keySetFor(deps, client)
  if (!keys) throw invalidClient('client has no registered keys')
  const issuer = deps.settings.issuer
  let payload
  try {
    ;({ payload } = await jwtVerify(assertion, keys, {
      issuer: client.client_id,
      subject: client.client_id,
      // RFC 7523 §3 item 3 names the token endpoint; OIDC Core §9 allows the issuer as well, and
      // oauth4webapi sends the issuer. Both identify this server, so either is accepted.
      audience: [issuer, `${issuer}/oauth/token`],
      algorithms: [...CLIENT_ASSERTION_ALGS],
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(now * 1000),
      clockTolerance: CLOCK_SKEW_SECONDS,
    }))
  } catch (err) {
    throw invalidClient('client assertion is invalid', err)
  }
  const exp = payload.exp!
  // A long-lived assertion is a bearer credential in all but name; RFC 7523 §3 item 4 lets the
  // server bound it. Short also keeps the replay table small.
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) throw invalidClient('client assertion expires too far ahead')
  if (payload.iat !== undefined && payload.iat > now + CLOCK_SKEW_SECONDS) throw invalidClient('client assertion is issued in the future')
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw invalidClient('client assertion jti is invalid')
  // Kept until exp (plus skew): after that the assertion fails on exp by itself.
  if (!(await deps.store.useClientAssertion(client.client_id, payload.jti, exp + CLOCK_SKEW_SECONDS))) {
    throw invalidClient('client assertion was already used')
  }
}

// One remote key set per (deps, client, uri): jose's cache and cooldown then live across requests,
// so a burst of assertions costs one fetch, and an unknown kid refetches at most every 30 s.
const remoteSets = new WeakMap<object, Map<string, JWTVerifyGetKey>>()

function keySetFor(deps: AssertionDeps, client: ClientRecord): JWTVerifyGetKey | undefined {
  if (client.jwks) return createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0])
  if (!client.jwks_uri) return undefined
  let sets = remoteSets.get(deps)
  if (!sets) remoteSets.set(deps, (sets = new Map()))
  const key = `${client.client_id} ${client.jwks_uri}`
  let set = sets.get(key)
  if (!set) {
    const selfRegistered = client.registration === 'dynamic' || client.registration === 'metadata_document'
    set = createRemoteJWKSet(new URL(client.jwks_uri), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cacheMaxAge: JWKS_CACHE_MS,
      [customFetch]: selfRegistered ? guardedFetch(deps.fetchClientDocument) : limitedFetch(deps.fetch ?? fetch),
    })
    sets.set(key, set)
  }
  return set
}

/**
 * A fetch for a self-registered client's `jwks_uri` through the SSRF-guarded fetcher (https only,
 * public addresses only, no redirects, its size and time limits). Without one, nothing is fetched.
 */
function guardedFetch(fetchDocument: AssertionDeps['fetchClientDocument']) {
  return async (url: string): Promise<Response> => {
    if (!fetchDocument) throw new errors.JWKSInvalid('no guarded fetcher for a self-registered client\'s jwks_uri')
    const { body } = await fetchDocument(url)
    return new Response(body as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}

/** A fetch that refuses a body over {@link MAX_JWKS_BYTES}, so a hostile jwks_uri cannot exhaust memory. */
function limitedFetch(fetchImpl: typeof fetch) {
  return async (url: string, options: RequestInit): Promise<Response> => {
    const res = await fetchImpl(url, options)
    const declared = Number(res.headers.get('content-length') ?? 0)
    if (declared > MAX_JWKS_BYTES || !res.body) {
      await res.body?.cancel()
      if (declared > MAX_JWKS_BYTES) throw new errors.JWKSInvalid('JWKS response is too large')
      return res
    }
    const body = await readBounded(res.body, MAX_JWKS_BYTES)
    if (body === undefined) throw new errors.JWKSInvalid('JWKS response is too large')
    // A stream chunk is typed over ArrayBufferLike; it is a plain ArrayBuffer at run time.
    return new Response(body as Uint8Array<ArrayBuffer>, { status: res.status, headers: res.headers })
  }
}

/**
 * Whether `uri` may serve a client's keys: https, or http on a loopback host when the issuer is
 * itself http (development), since keys fetched in clear could be swapped by anyone on the path.
 */
export function jwksUriAllowed(uri: string, issuer: string): boolean {
  let u: URL
  try {
    u = new URL(uri)
  } catch {
    return false
  }
  if (u.protocol === 'https:') return true
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname)
  return u.protocol === 'http:' && loopback && issuer.startsWith('http:')
}

// Same shape as client-auth.ts: 401 whatever the method, so SDK retries don't depend on it.
function invalidClient(description: string, cause?: unknown): OAuthError {
  return new OAuthError('invalid_client', description, { status: 401, cause })
}
