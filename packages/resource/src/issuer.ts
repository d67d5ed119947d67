import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { ResourceError } from './errors.js'

/** Options of {@link createIssuerKeys}. */
export interface IssuerKeysOptions {
  /** The authorization server's issuer identifier, exactly as tokens carry it in `iss`. */
  issuer: string
  fetch: typeof fetch
  /** Epoch seconds. */
  now: () => number
  /** Fewest seconds between two fetches of the JWKS for an unknown `kid` (default 30). */
  refetchFloorSeconds?: number
  /** How long a fetched JWKS is used before it is fetched again regardless (default 600). */
  maxAgeSeconds?: number
}

/** The issuer's signing keys, discovered and cached. */
export interface IssuerKeys {
  /** A jose key resolver over the cached JWKS. Throws `ResourceError('ISSUER_UNAVAILABLE')` when it cannot be fetched. */
  getKey: JWTVerifyGetKey
}

/** A JWKS or metadata document bigger than this is refused (Evergreen's is a few KiB). */
const MAX_DOCUMENT_BYTES = 256 * 1024

/**
 * Discovers the issuer's `jwks_uri` from its RFC 8414 metadata and keeps the JWKS in memory. A
 * token signed with a `kid` the cache does not know triggers one refetch — that is how a key
 * rotation reaches the resource server — but no more often than `refetchFloorSeconds`, so a
 * stream of tokens with made-up `kid`s cannot turn the resource into a JWKS-fetching amplifier.
 * The clock and fetch are injected, so tests move time by hand and never touch the network.
 *
 * @example const keys = createIssuerKeys({ issuer, fetch, now: () => Math.floor(Date.now() / 1000) })
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function createIssuerKeys(options: IssuerKeysOptions): IssuerKeys {
  const floor = options.refetchFloorSeconds ?? 30
  const maxAge = options.maxAgeSeconds ?? 600
  let jwksUri: string | undefined
  let cached: { resolve: ReturnType<typeof createLocalJWKSet>; fetchedAt: number } | undefined
  let inFlight: Promise<void> | undefined
  let failedAt: number | undefined

  const refresh = () => {
    // An issuer that is down is not asked again for every request that reaches us: the same
    // floor as for unknown kids keeps a busy resource from hammering a recovering issuer.
    if (!inFlight && failedAt !== undefined && options.now() - failedAt < floor) {
      return Promise.reject(new ResourceError('ISSUER_UNAVAILABLE', 'the authorization server keys could not be fetched'))
    }
    return (inFlight ??= (async () => {
      try {
        jwksUri ??= await discoverJwksUri(options)
        const jwks = await fetchJson(options.fetch, jwksUri)
        if (!jwks || !Array.isArray((jwks as JSONWebKeySet).keys)) throw new Error('JWKS has no keys array')
        cached = { resolve: createLocalJWKSet(jwks as JSONWebKeySet), fetchedAt: options.now() }
        failedAt = undefined
      } catch (cause) {
        failedAt = options.now()
        throw new ResourceError('ISSUER_UNAVAILABLE', 'the authorization server keys could not be fetched', { cause })
      } finally {
        inFlight = undefined
      }
    })())
  }

  return {
    async getKey(header, token) {
      if (!cached || options.now() - cached.fetchedAt >= maxAge) await refresh()
      try {
        return await cached!.resolve(header, token)
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey) || options.now() - cached!.fetchedAt < floor) throw err
        await refresh()
        return cached!.resolve(header, token)
      }
    },
  }
}

async function discoverJwksUri(options: IssuerKeysOptions): Promise<string> {
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const issuer = new URL(options.issuer)
  const path = issuer.pathname === '/' ? '' : issuer.pathname
  const metadata = (await fetchJson(options.fetch, `${issuer.origin}/.well-known/oauth-authorization-server${path}`)) as Record<string, unknown>
  // RFC 8414 §3.3: metadata naming another issuer must not be used (a mix-up defence).
  if (metadata.issuer !== options.issuer) throw new Error('authorization server metadata names another issuer')
  if (typeof metadata.jwks_uri !== 'string' || !URL.canParse(metadata.jwks_uri)) throw new Error('authorization server metadata has no jwks_uri')
  return metadata.jwks_uri
}

async function fetchJson(fetchFn: typeof fetch, url: string): Promise<unknown> {
  const res = await fetchFn(url, { headers: { accept: 'application/json' }, redirect: 'error' })
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`)
  const text = await res.text()
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`GET ${url} answered more than ${MAX_DOCUMENT_BYTES} bytes`)
  return JSON.parse(text)
}
