import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { ISSUER, type WebFixture } from './fixture.js'

export interface LogoutSigner {
  /** Signs a logout token with a key published in the service's JWKS (as the fixture's fetch sees it). */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>, key?: 'published' | 'unpublished'): Promise<string>
}

/**
 * Logout tokens for tests. The service does not send back-channel logouts itself (yet), so the
 * test adds its own ES256 key to the JWKS the middleware fetches — the service's own keys stay
 * there — and signs with it; an unpublished key stands in for a forger.
 */
export async function createLogoutSigner(f: WebFixture): Promise<LogoutSigner> {
  const published = await generateKeyPair('ES256', { extractable: true })
  const unpublished = await generateKeyPair('ES256', { extractable: true })
  const jwk: JWK = { ...(await exportJWK(published.publicKey)), kid: 'test-logout', alg: 'ES256', use: 'sig' }
  const inner = f.transport.fetch
  f.transport.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await inner(input, init)
    if (new URL(String(input instanceof Request ? input.url : input)).pathname !== '/.well-known/jwks.json') return res
    const body = (await res.json()) as { keys: JWK[] }
    return Response.json({ keys: [...body.keys, jwk] })
  }) as typeof fetch
  return {
    async sign(claims, header = {}, key = 'published') {
      const k: CryptoKey = key === 'published' ? published.privateKey : unpublished.privateKey
      return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'test-logout', typ: 'logout+jwt', ...header }).sign(k)
    },
  }
}

/** The claims of a good logout token for `sid`, issued now. */
export function logoutClaims(f: WebFixture, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: f.clientId,
    iat: f.svc.clock.now(),
    exp: f.svc.clock.now() + 120,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    ...extra,
  }
}
