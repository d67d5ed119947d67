import { CLIENT_ASSERTION_TYPE_JWT, OAuthError } from '@evergreen/core'
import { secretMatches } from '../crypto/hash.js'
import type { Store, ClientRecord, TokenEndpointAuthMethod } from '../store/types.js'
import { verifyClientAssertion, type AssertionDeps } from './client-assertion.js'
import type { RequestHead } from './oauth-endpoint.js'

/** Client credentials as presented, before any lookup. */
export interface PresentedClient {
  client_id: string
  method: TokenEndpointAuthMethod
  secret: string | undefined
  /** The `client_assertion` JWT, for `private_key_jwt`. */
  assertion?: string
  /**
   * The service the request reached: its clock decides whether a rotated-out secret is still in
   * its overlap, and assertions are checked against its issuer and replay table. Carried here so
   * every endpoint's `authenticateClient(store, presented)` call stays as it is. Its settings'
   * `registeredClientTtl` slides a dynamically registered client's expiry on each use.
   */
  service?: AssertionDeps & { settings: { registeredClientTtl?: number } }
}

/**
 * Extracts client credentials from a token-endpoint request without touching the store, so the
 * refresh grant can check them against the client row its one joined read already returned.
 * RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function presentedClient(req: RequestHead, form: Map<string, string>, service?: AssertionDeps): PresentedClient {
  const header = req.headers.get('authorization')
  const bodyId = form.get('client_id')
  const bodySecret = form.get('client_secret')
  const assertion = form.get('client_assertion')
  const assertionType = form.get('client_assertion_type')
  if (assertion !== undefined || assertionType !== undefined) {
    if (header !== null && /^basic /i.test(header)) throw invalidClient('use one client authentication method, not two', true)
    if (bodySecret !== undefined) throw invalidClient('use one client authentication method, not two', false)
    if (assertionType !== CLIENT_ASSERTION_TYPE_JWT) throw invalidClient('unsupported client_assertion_type', false)
    if (!assertion) throw invalidClient('client_assertion is required', false)
    // RFC 7523 §3: the client is the assertion's `sub` (= `iss`), which the verification checks
    // against the client row; client_id is optional in the form (§2.2), and must agree if sent.
    const claimed = unverifiedSubject(assertion)
    if (claimed === undefined) throw invalidClient('malformed client_assertion', false)
    if (bodyId !== undefined && bodyId !== claimed) throw invalidClient('client_id does not match the client assertion', false)
    return { client_id: claimed, method: 'private_key_jwt', secret: undefined, assertion, service }
  }
  if (header !== null && /^basic /i.test(header)) {
    if (bodySecret !== undefined) throw invalidClient('use one client authentication method, not two', true)
    const decoded = decodeBasic(header.slice(6).trim())
    if (!decoded) throw invalidClient('malformed Basic authorization header', true)
    if (bodyId !== undefined && bodyId !== decoded.id) throw invalidClient('client_id does not match the Authorization header', true)
    return { client_id: decoded.id, method: 'client_secret_basic', secret: decoded.secret, service }
  }
  if (bodyId === undefined) throw invalidClient('client authentication is required', false)
  if (bodySecret !== undefined) return { client_id: bodyId, method: 'client_secret_post', secret: bodySecret, service }
  return { client_id: bodyId, method: 'none', secret: undefined, service }
}

/**
 * Checks presented credentials against a client row: the method must be the one registered, a
 * secret must match the current one or the one a rotation replaced while its overlap lasts (both
 * compared in constant time), and an assertion must verify against the client's keys. `known`
 * saves a read when the caller already has it.
 */
export async function authenticateClient(store: Store, presented: PresentedClient, known?: ClientRecord): Promise<ClientRecord> {
  const client = known?.client_id === presented.client_id ? known : await store.getClient(presented.client_id)
  const basic = presented.method === 'client_secret_basic'
  if (!client) throw invalidClient('unknown client', basic)
  const now = presented.service?.now()
  // A dynamically registered client unused past its expiry is gone, as a deleted one is, at
  // every endpoint (docs/architecture.md "Client registration"); the sweep deletes it later.
  if (now !== undefined && isExpired(client, now)) throw invalidClient('unknown client', basic)
  if (client.token_endpoint_auth_method !== presented.method) {
    throw invalidClient(`client must authenticate with ${client.token_endpoint_auth_method}`, basic)
  }
  if (presented.method === 'private_key_jwt') {
    if (!presented.assertion || !presented.service) throw invalidClient('client authentication failed', false)
    await verifyClientAssertion(presented.service, client, presented.assertion)
  } else if (presented.method !== 'none') {
    if (!presented.secret || !secretAccepted(presented.secret, client, presented.service?.now())) {
      throw invalidClient('client authentication failed', basic)
    }
  }
  if (now !== undefined && presented.service?.settings.registeredClientTtl !== undefined) await noteUse(store, client, now, presented.service.settings.registeredClientTtl)
  return client
}

/** A dynamically registered client past its `expires_at` (see EVERGREEN_REGISTERED_CLIENT_TTL). */
export function isExpired(client: Pick<ClientRecord, 'expires_at'>, now: number): boolean {
  return client.expires_at !== undefined && client.expires_at !== null && client.expires_at <= now
}

/** Writes at most one use per client per this many seconds: the refresh hot path stays one write. */
const USE_GRANULARITY_SECONDS = 3600

/**
 * Records an authenticated use of a self-registered client, sliding a dynamic client's expiry.
 * Coarse on purpose: the row the request already read says when it was last noted, so a client
 * refreshing many times an hour costs one extra write an hour, not one per refresh.
 */
async function noteUse(store: Store, client: ClientRecord, now: number, ttl: number): Promise<void> {
  if (client.registration !== 'dynamic' && client.registration !== 'metadata_document') return
  if (client.last_used_at != null && now - client.last_used_at < USE_GRANULARITY_SECONDS) return
  await store.touchClient(client.client_id, now, client.registration === 'dynamic' ? now + ttl : null)
}

/**
 * The current secret, or the previous one before its overlap ends. Both comparisons always run,
 * so the time taken says nothing about which secret (if either) matched.
 */
function secretAccepted(secret: string, client: ClientRecord, now: number | undefined): boolean {
  const current = client.secret_hash ? secretMatches(secret, client.secret_hash) : false
  const previous = client.previous_secret_hash ? secretMatches(secret, client.previous_secret_hash) : false
  const overlapOpen = now !== undefined && client.previous_secret_expires_at != null && now < client.previous_secret_expires_at
  return current || (previous && overlapOpen)
}

/** The `sub` of a JWT, unverified: only to find the client whose keys then verify it. */
function unverifiedSubject(jwt: string): string | undefined {
  const parts = jwt.split('.')
  if (parts.length !== 3) return undefined
  try {
    const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(parts[1]!.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)))) as unknown
    const sub = (payload as { sub?: unknown } | null)?.sub
    return typeof sub === 'string' && sub.length > 0 ? sub : undefined
  } catch {
    return undefined
  }
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
