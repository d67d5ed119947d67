import { createHash } from 'node:crypto'
import { PageClient } from './browser-client.js'
import { createTestService, json, type TestService } from './harness.js'

/** The password of the person every code-flow test signs in as (`ada@example.com`). */
export const PASSWORD = 'correct horse battery'
/** The code-flow client's one registered redirect URI. */
export const REDIRECT = 'http://127.0.0.1:9999/callback'
/** A PKCE verifier (RFC 7636 §4.1) and its S256 challenge. */
export const verifier = 'v'.repeat(20) + 'erifier-0123456789-abcdefghijklmnop'
export const challenge = createHash('sha256').update(verifier).digest('base64url')

export interface CodeFlow {
  svc: TestService
  /** A cookie-keeping browser, not yet signed in. */
  browser: PageClient
  /** A first-party public client (authorization_code + refresh_token) registered for {@link REDIRECT}. */
  clientId: string
  /** An /authorize URL for that client with state `s1`, nonce `n1` and the S256 challenge; `extra` overrides. */
  authorizeUrl(extra?: Record<string, string>): string
}

/**
 * The in-process service with what every authorization-code test starts from: the person Ada
 * (with {@link PASSWORD}), a first-party public client, and a browser.
 *
 * @example
 * let flow: CodeFlow
 * beforeEach(async () => { flow = await startCodeFlow() })
 * afterEach(() => flow?.svc.close())
 */
export async function startCodeFlow(): Promise<CodeFlow> {
  const svc = await createTestService()
  await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD, name: 'Ada' }), 201)
  const { client_id: clientId } = await json<{ client_id: string }>(
    await svc.admin('POST', '/clients', {
      name: 'Dashboard',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
      first_party: true,
    }),
    201,
  )
  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid email', state: 's1', nonce: 'n1', code_challenge: challenge, code_challenge_method: 'S256', ...extra })}`
  return { svc, browser: new PageClient(svc), clientId, authorizeUrl }
}
