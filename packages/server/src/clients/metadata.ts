import { OAuthError, STANDARD_SCOPES, type JwkSet, type TokenEndpointAuthMethod } from '@evergreen/core'
import { SERVED_GRANT_TYPES } from '../grants/registry.js'
import { parseScope } from '../oauth/scope.js'

/**
 * The grants a client that registered itself may use: those a module serves (the registry) less
 * `client_credentials`, which needs a secret an operator handed out, and token exchange, which
 * needs an operator's policy. Both stay with the admin API.
 */
export const SELF_REGISTERED_GRANT_TYPES: readonly string[] = SERVED_GRANT_TYPES.filter(
  (g) => g !== 'client_credentials' && g !== 'urn:ietf:params:oauth:grant-type:token-exchange',
)

/** Client metadata (RFC 7591 §2) as Evergreen accepts it from a client describing itself. */
export interface SelfDescribedClient {
  client_name: string | null
  redirect_uris: string[]
  grant_types: string[]
  token_endpoint_auth_method: TokenEndpointAuthMethod
  jwks: JwkSet | null
  /** https only; fetched through the SSRF-guarded fetcher (http/client-assertion.ts). */
  jwks_uri: string | null
  client_uri: string | null
  logo_uri: string | null
  /** The `scope` asked for, cut to the standard scopes; null when none was given. */
  scope: string | null
}

/** Which auth methods a source may declare: a metadata document has no shared secret to hold. */
export interface MetadataRules {
  authMethods: readonly TokenEndpointAuthMethod[]
  /** Defaults when the field is absent (RFC 7591 §2 says client_secret_basic; we default to public). */
  defaultAuthMethod: TokenEndpointAuthMethod
}

const MAX_REDIRECT_URIS = 20

/**
 * Validates self-described client metadata (RFC 7591 §2), from a registration request or a
 * Client ID Metadata Document. Failures are `invalid_redirect_uri` or `invalid_client_metadata`
 * (RFC 7591 §3.2.2) with a description naming the field.
 *
 * - `redirect_uris`: required, exact strings later matched exactly; https, or http on a loopback
 *   host (RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1); no fragment.
 * - `grant_types` from {@link SELF_REGISTERED_GRANT_TYPES}, default `authorization_code`;
 *   `response_types` only `code`.
 * - `token_endpoint_auth_method` from `rules`; `private_key_jwt` needs inline `jwks` or an https
 *   `jwks_uri`, which is a second client-chosen URL and so is fetched only through the
 *   SSRF-guarded fetcher.
 * - `scope`, when given, is registered cut to the standard scopes: a client does not grant
 *   itself an API's scopes.
 *
 * @example validateClientMetadata(JSON.parse(body), { authMethods: ['none'], defaultAuthMethod: 'none' })
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
export function validateClientMetadata(input: unknown, rules: MetadataRules): SelfDescribedClient {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalidMetadata('client metadata must be a JSON object')
  const m = input as Record<string, unknown>
  const redirectUris = stringList(m, 'redirect_uris')
  if (!redirectUris || redirectUris.length === 0) throw invalidRedirect('redirect_uris is required')
  if (redirectUris.length > MAX_REDIRECT_URIS) throw invalidRedirect(`at most ${MAX_REDIRECT_URIS} redirect_uris`)
  for (const uri of redirectUris) checkRedirectUri(uri)

  const grantTypes = stringList(m, 'grant_types') ?? ['authorization_code']
  const unsupported = grantTypes.filter((g) => !SELF_REGISTERED_GRANT_TYPES.includes(g))
  if (unsupported.length > 0) throw invalidMetadata(`grant_types not available to self-registered clients: ${unsupported.join(' ').slice(0, 200)}`)
  const responseTypes = stringList(m, 'response_types') ?? ['code']
  if (responseTypes.some((r) => r !== 'code')) throw invalidMetadata('response_types may only be code')
  if (responseTypes.length > 0 && !grantTypes.includes('authorization_code')) throw invalidMetadata('response_types code needs the authorization_code grant')

  const method = m.token_endpoint_auth_method ?? rules.defaultAuthMethod
  if (typeof method !== 'string' || !(rules.authMethods as readonly string[]).includes(method)) {
    throw invalidMetadata(`token_endpoint_auth_method must be one of ${rules.authMethods.join(', ')}`)
  }
  const jwksUri = optionalHttpsUrl(m, 'jwks_uri')
  if (jwksUri !== null && m.jwks !== undefined) throw invalidMetadata('give jwks or jwks_uri, not both')
  let jwks: JwkSet | null = null
  if (m.jwks !== undefined) {
    const keys = (m.jwks as { keys?: unknown } | null)?.keys
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10 || keys.some((k) => k === null || typeof k !== 'object' || 'd' in k)) {
      throw invalidMetadata('jwks must be a JWK Set of at most 10 public keys')
    }
    jwks = { keys: keys as Record<string, unknown>[] }
  }
  if (method === 'private_key_jwt' && !jwks && jwksUri === null) throw invalidMetadata('private_key_jwt needs jwks or jwks_uri')

  let scope: string | null = null
  if (m.scope !== undefined) {
    if (typeof m.scope !== 'string') throw invalidMetadata('scope must be a string')
    let scopes: string[]
    try {
      scopes = parseScope(m.scope)
    } catch {
      throw invalidMetadata('scope must be space-separated scope tokens')
    }
    // RFC 7591 §2: the server may register less than asked. A client does not grant itself an
    // API's scopes, so only the standard ones are kept (an operator can widen the client later).
    scope = scopes.filter((s) => (STANDARD_SCOPES as readonly string[]).includes(s)).join(' ')
  }
  return {
    client_name: optionalText(m, 'client_name', 200),
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    token_endpoint_auth_method: method as TokenEndpointAuthMethod,
    jwks,
    jwks_uri: jwksUri,
    client_uri: optionalHttpsUrl(m, 'client_uri'),
    logo_uri: optionalHttpsUrl(m, 'logo_uri'),
    scope,
  }
}

function checkRedirectUri(value: string): void {
  let u: URL
  try {
    u = new URL(value)
  } catch {
    throw invalidRedirect(`redirect_uri ${JSON.stringify(value.slice(0, 200))} is not an absolute URI`)
  }
  if (u.hash || value.includes('#')) throw invalidRedirect('a redirect_uri must not contain a fragment')
  if (u.protocol === 'https:') return
  if (u.protocol === 'http:') {
    // RFC 8252 §7.3 / §8.3: loopback by IP literal; `localhost` is tolerated as the admin API does.
    if (['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) return
    throw invalidRedirect('a redirect_uri must use https (http only on a loopback address)')
  }
  // RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it has a dot.
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol) && !['javascript:', 'data:', 'file:', 'vbscript:'].includes(u.protocol)) return
  throw invalidRedirect('a redirect_uri must be https, loopback http, or a private-use scheme such as com.example.app:/callback')
}

function stringList(m: Record<string, unknown>, field: string): string[] | undefined {
  const v = m[field]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 2048)) {
    throw (field === 'redirect_uris' ? invalidRedirect : invalidMetadata)(`${field} must be an array of strings`)
  }
  return [...new Set(v as string[])]
}

function optionalText(m: Record<string, unknown>, field: string, max: number): string | null {
  const v = m[field]
  if (v === undefined || v === null) return null
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > max || /[\x00-\x1f\x7f]/.test(v)) throw invalidMetadata(`${field} must be text of at most ${max} characters`)
  return v.trim()
}

function optionalHttpsUrl(m: Record<string, unknown>, field: string): string | null {
  const v = m[field]
  if (v === undefined || v === null) return null
  if (typeof v !== 'string' || v.length > 2048 || !URL.canParse(v) || new URL(v).protocol !== 'https:') throw invalidMetadata(`${field} must be an https URL`)
  return v
}

const invalidMetadata = (description: string) => new OAuthError('invalid_client_metadata', description)
const invalidRedirect = (description: string) => new OAuthError('invalid_redirect_uri', description)
