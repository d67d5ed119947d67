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
