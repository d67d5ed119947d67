import { OAuthError } from '@evergreen/core'
import type { Context } from 'hono'
import { createHash, timingSafeEqual } from 'node:crypto'
import { auditEvent } from '../audit.js'
import { validateClientMetadata } from '../clients/metadata.js'
import { hashSecret } from '../crypto/hash.js'
import type { Deps } from '../deps.js'
import type { AttemptLimit } from '../http/attempt-limit.js'
import { readBounded } from '../http/bounded-body.js'
import { errorResponse, noStoreJson } from '../http/errors.js'
import { requesterOf } from '../http/requester.js'
import { newClientRecord } from '../clients/new-client.js'

/**
 * Dynamic client registration (RFC 7591 §3), served only with EVERGREEN_DYNAMIC_REGISTRATION.
 * In order: the per-address limit counts the attempt (before anything is checked, so a guessed
 * initial access token costs budget too); the initial access token, when configured, is compared
 * in constant time; the metadata is validated (clients/metadata.ts); the client is stored as
 * `registration: dynamic`, public unless it asked for a secret, with no custom scopes, and an
 * expiry that each use slides (EVERGREEN_REGISTERED_CLIENT_TTL). Bad input is a 4xx and writes
 * nothing. RFC 7592 management is not offered: no registration access token is issued.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3
 */
export function registrationEndpoint(deps: Deps, limit: AttemptLimit) {
  return async function registerClient(c: Context): Promise<Response> {
    try {
      const requester = requesterOf(c, deps.settings)
      const attempt = await limit.take(requester.ip ?? 'unknown')
      if (!attempt.ok) {
        throw new OAuthError('temporarily_unavailable', 'too many registrations; slow down', { status: 429, headers: { 'retry-after': String(attempt.retryAfter) } })
      }
      checkInitialAccessToken(deps.settings.registrationToken, c.req.header('authorization'))
      const metadata = validateClientMetadata(await readJson(c.req.raw, deps.settings.maxBodyBytes), {
        authMethods: ['none', 'private_key_jwt', 'client_secret_basic', 'client_secret_post'],
        // RFC 7591 §2 defaults to client_secret_basic; MCP clients are mostly public, and a
        // secret nobody asked for would be one more thing to leak.
        defaultAuthMethod: 'none',
      })
      const now = deps.now()
      const method = metadata.token_endpoint_auth_method
      const secret = method === 'client_secret_basic' || method === 'client_secret_post' ? deps.random.secret('egs') : undefined
      const client = newClientRecord({
        client_id: deps.random.id('dyn'),
        name: metadata.client_name ?? 'Unnamed application',
        secret_hash: secret === undefined ? null : hashSecret(secret),
        redirect_uris: metadata.redirect_uris,
        grant_types: metadata.grant_types,
        token_endpoint_auth_method: method,
        jwks: metadata.jwks,
        jwks_uri: metadata.jwks_uri,
        registration: 'dynamic',
        last_used_at: now,
        expires_at: now + deps.settings.registeredClientTtl,
        created_at: now,
      })
      await deps.store.createClient(client, auditEvent(deps, 'client.registered', { client_id: client.client_id, ...requester, data: { registration: 'dynamic', token_endpoint_auth_method: method } }))
      // RFC 7591 §3.2.1: the registered metadata, with the client_id and, once, the secret.
      return noStoreJson({
        client_id: client.client_id,
        client_id_issued_at: now,
        ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
        client_name: client.name,
        redirect_uris: client.redirect_uris,
        grant_types: client.grant_types,
        response_types: client.grant_types.includes('authorization_code') ? ['code'] : [],
        token_endpoint_auth_method: method,
        ...(client.jwks ? { jwks: client.jwks } : {}),
        ...(client.jwks_uri ? { jwks_uri: client.jwks_uri } : {}),
        ...(metadata.client_uri ? { client_uri: metadata.client_uri } : {}),
        ...(metadata.logo_uri ? { logo_uri: metadata.logo_uri } : {}),
        // RFC 7591 §3.2.1: what was registered, which may be less than asked.
        ...(metadata.scope !== null ? { scope: metadata.scope } : {}),
      }, 201)
    } catch (err) {
      return errorResponse(err, deps.logger)
    }
  }
}

/**
 * RFC 7591 §3: with an initial access token configured, registration needs it as a bearer token.
 * Both sides are hashed first so the comparison is constant-time whatever the lengths.
 */
function checkInitialAccessToken(expected: string | undefined, header: string | undefined): void {
  if (expected === undefined) return
  const presented = /^Bearer (\S+)$/i.exec(header ?? '')?.[1]
  const digest = (v: string) => createHash('sha256').update(v).digest()
  if (presented === undefined || !timingSafeEqual(digest(presented), digest(expected))) {
    throw new OAuthError('invalid_token', 'a valid initial access token is required to register', {
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="evergreen", error="invalid_token"` },
    })
  }
}

async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  if (!/^application\/json(\s*;|$)/i.test(req.headers.get('content-type') ?? '')) {
    throw new OAuthError('invalid_client_metadata', 'send the client metadata as application/json')
  }
  const bytes = req.body ? await readBounded(req.body, maxBytes) : new Uint8Array()
  if (bytes === undefined) throw new OAuthError('invalid_request', 'request body is too large', { status: 413 })
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new OAuthError('invalid_client_metadata', 'the body is not JSON')
  }
}
