import { OAuthError } from '@evergreen/core'
import { secretMatches } from '../crypto/hash.js'
import type { Store, ClientRecord, TokenEndpointAuthMethod } from '../store/types.js'

/** Client credentials as presented, before any lookup. */
export interface PresentedClient {
  client_id: string
  method: TokenEndpointAuthMethod
  secret: string | undefined
}

/**
 * Extracts client credentials from a token-endpoint request without touching the store, so the
 * refresh grant can check them against the client row its one joined read already returned.
 * RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function presentedClient(req: Request, form: Map<string, string>): PresentedClient {
  const header = req.headers.get('authorization')
  const bodyId = form.get('client_id')
  const bodySecret = form.get('client_secret')
  if (header !== null && /^basic /i.test(header)) {
    if (bodySecret !== undefined) throw invalidClient('use one client authentication method, not two', true)
    const decoded = decodeBasic(header.slice(6).trim())
    if (!decoded) throw invalidClient('malformed Basic authorization header', true)
    if (bodyId !== undefined && bodyId !== decoded.id) throw invalidClient('client_id does not match the Authorization header', true)
    return { client_id: decoded.id, method: 'client_secret_basic', secret: decoded.secret }
  }
  if (bodyId === undefined) throw invalidClient('client authentication is required', false)
  if (bodySecret !== undefined) return { client_id: bodyId, method: 'client_secret_post', secret: bodySecret }
  return { client_id: bodyId, method: 'none', secret: undefined }
}

/**
 * Checks presented credentials against a client row: the method must be the one registered and
 * the secret must match in constant time. `known` saves a read when the caller already has it.
 */
export async function authenticateClient(store: Store, presented: PresentedClient, known?: ClientRecord): Promise<ClientRecord> {
  const client = known?.client_id === presented.client_id ? known : await store.getClient(presented.client_id)
  const basic = presented.method === 'client_secret_basic'
  if (!client) throw invalidClient('unknown client', basic)
  if (client.token_endpoint_auth_method !== presented.method) {
    throw invalidClient(`client must authenticate with ${client.token_endpoint_auth_method}`, basic)
  }
  if (presented.method !== 'none') {
    if (!client.secret_hash || !presented.secret || !secretMatches(presented.secret, client.secret_hash)) {
      throw invalidClient('client authentication failed', basic)
    }
  }
  return client
}

// RFC 6749 §5.2: a failed Basic authentication MUST be 401 with a matching WWW-Authenticate.
// Body credentials may get 400; we use 401 for both so SDK retry logic doesn't depend on the
// auth method.
function invalidClient(description: string, basic: boolean): OAuthError {
  return new OAuthError('invalid_client', description, {
    status: 401,
    headers: basic ? { 'www-authenticate': 'Basic realm="evergreen", charset="UTF-8"' } : {},
  })
}

function decodeBasic(value: string): { id: string; secret: string } | undefined {
  let text: string
  try {
    text = Buffer.from(value, 'base64').toString('utf8')
  } catch {
    return undefined
  }
  const i = text.indexOf(':')
  if (i <= 0) return undefined
  try {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined.
    return { id: decodeURIComponent(text.slice(0, i).replace(/\+/g, ' ')), secret: decodeURIComponent(text.slice(i + 1).replace(/\+/g, ' ')) }
  } catch {
    return undefined
  }
}
