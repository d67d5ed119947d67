import { OAuthError } from '@evergreen/core'
import type { ClientRecord } from '../store/types.js'

/**
 * True when `value` may be an RFC 8707 resource indicator: an absolute URI without a fragment
 * (§2), printable and bounded because it travels as a form value and a JWT `aud`.
 *
 * @example isResourceUri('https://workspace.example/api') // true
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function isResourceUri(value: string): boolean {
  if (!/^[\x21-\x7e]{1,512}$/.test(value) || value.includes('#')) return false
  try {
    return new URL(value).protocol.length > 1
  } catch {
    return false
  }
}

/**
 * The one `resource` of a token request. Evergreen binds a session to one resource: it is
 * stored on the session and carried in `aud`, and a refresh can keep it but never trade it for
 * another. RFC 8707 §2 lets the parameter repeat; Evergreen's form reader refuses every repeated
 * parameter (invalid_request, RFC 6749 §3.2), so a client wanting two resources asks twice.
 * Absent: the client's `default_resource`, else none.
 *
 * @throws OAuthError invalid_target when not an absolute URI without fragment
 * @example requestedResource(undefined, client) // client.default_resource
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function requestedResource(value: string | undefined, client: Pick<ClientRecord, 'default_resource'>): string | null {
  if (value === undefined || value === '') return client.default_resource
  if (!isResourceUri(value)) throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment (RFC 8707 §2)')
  return value
}

/**
 * The resource a client may bind its own tokens to: its `default_resource`, or one of its
 * `allowed_audiences` (a resource is where the token is used, so it is an audience; RFC 8707 §2).
 *
 * @throws OAuthError invalid_target
 * @example grantedResource('https://api.example/', client) // 'https://api.example/'
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function grantedResource(value: string | undefined, client: Pick<ClientRecord, 'default_resource' | 'allowed_audiences'>): string | null {
  const resource = requestedResource(value, client)
  if (resource === null || resource === client.default_resource || client.allowed_audiences.includes(resource)) return resource
  throw new OAuthError('invalid_target', 'resource not allowed for this client')
}

/**
 * True for a client no operator registered — one that registered itself (RFC 7591) or is
 * described by a Client ID Metadata Document. Such a client is typically an MCP host meeting an
 * MCP server it has never seen, and nobody could have listed that server in its
 * `allowed_audiences`. The resources it names at the authorization endpoint are shown on the
 * consent page and approved by the person, so there, and through the code to the token request
 * (which may only narrow), any resource URI is allowed; everywhere else (no authorization to
 * approve it: client_credentials, a code issued without resources) the client's own list applies.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.1
 */
export function personApprovesResources(client: Pick<ClientRecord, 'registration'>): boolean {
  return client.registration === 'dynamic' || client.registration === 'metadata_document'
}

/**
 * The check a token request's `resource` gets before an authorization code is spent: its form
 * always, and the client's allowance unless the person approves the client's resources
 * ({@link personApprovesResources}; whether it was approved is checked once the code is read).
 *
 * @throws OAuthError invalid_target
 */
export function precheckedResource(value: string, client: Pick<ClientRecord, 'default_resource' | 'allowed_audiences' | 'registration'>): void {
  if (personApprovesResources(client)) requestedResource(value, client)
  else grantedResource(value, client)
}

/** How many resources one authorization may name: each becomes a stored URI and a consent line. */
const MAX_AUTHORIZED_RESOURCES = 10

/**
 * The resources an authorization request names (RFC 8707 §2.1: `resource` may repeat at the
 * authorization endpoint), each checked as the token endpoint checks one ({@link grantedResource}).
 * Stored with the authorization or device code as one space-separated string — an RFC 8707
 * resource has no space ({@link isResourceUri}) — or null when none is named.
 *
 * @throws OAuthError invalid_target
 * @example authorizedResources(['https://mcp.example/'], client) // 'https://mcp.example/'
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.1
 */
export function authorizedResources(values: readonly string[], client: Pick<ClientRecord, 'default_resource' | 'allowed_audiences' | 'registration'>): string | null {
  const named = values.filter((v) => v !== '')
  if (named.length === 0) return null
  if (named.length > MAX_AUTHORIZED_RESOURCES) throw new OAuthError('invalid_target', `at most ${MAX_AUTHORIZED_RESOURCES} resources may be requested`)
  const check = personApprovesResources(client) ? requestedResource : grantedResource
  return [...new Set(named.map((v) => check(v, client)!))].join(' ')
}

/**
 * The resource a code exchange or device poll binds its session to, given what the person
 * authorized. Nothing authorized: the token request's `resource` as {@link grantedResource}
 * allows it. Otherwise the token request may narrow to one of the authorized resources but
 * not name another (RFC 8707 §2.2); omitted, the one authorized resource, and with several it must
 * choose, because a session is bound to one. Still checked against the client, which may have
 * been narrowed since the person approved.
 *
 * @param value the token request's `resource`
 * @param authorized what {@link authorizedResources} stored with the code
 * @throws OAuthError invalid_target
 * @example narrowedResource(undefined, 'https://mcp.example/', client) // 'https://mcp.example/'
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
 */
export function narrowedResource(
  value: string | undefined,
  authorized: string | null,
  client: Pick<ClientRecord, 'default_resource' | 'allowed_audiences' | 'registration'>,
): string | null {
  if (authorized === null) return grantedResource(value, client)
  const list = authorized.split(' ')
  const chosen = value === undefined || value === '' ? (list.length === 1 ? list[0] : undefined) : value
  if (chosen === undefined) throw new OAuthError('invalid_target', 'several resources were authorized; name one with resource')
  if (!list.includes(chosen)) throw new OAuthError('invalid_target', 'resource was not part of the authorization')
  return personApprovesResources(client) ? chosen : grantedResource(chosen, client)
}
