import type { StoredSession } from '../session.js'

export const FAKE_ISSUER = 'https://auth.fake.test'
export const FAKE_CLIENT_ID = 'cli-client'

export interface FakeProvider {
  fetch: typeof fetch
  /** Refresh grants that reached the token endpoint. */
  refreshes: number
  revocations: string[]
  /** The refresh token the provider currently accepts. */
  current: string
  /** Override the next token-endpoint answers (e.g. a 503 or invalid_grant). */
  failWith: ((req: Request) => Response) | undefined
  /** Delay before answering a refresh, so concurrent callers overlap. */
  delayMs: number
  /** Requests to anything else (the API), answered by this handler. */
  api: (req: Request) => Response | Promise<Response>
}

/**
 * A token service in a function: discovery, a strictly rotating refresh grant (a spent token is
 * `invalid_grant` / `reused`, no grace window) and revocation. No sockets: unit tests stay off the
 * network (STYLE §6).
 */
export function createFakeProvider(initialRefreshToken = 'rt-0'): FakeProvider {
  let generation = 0
  const provider: FakeProvider = {
    refreshes: 0,
    revocations: [],
    current: initialRefreshToken,
    failWith: undefined,
    delayMs: 5,
    api: () => new Response('ok'),
    fetch: async (input, init) => {
      const req = new Request(input, init)
      const url = new URL(req.url)
      if (url.origin === FAKE_ISSUER && url.pathname === '/.well-known/openid-configuration') {
        return Response.json({
          issuer: FAKE_ISSUER,
          token_endpoint: `${FAKE_ISSUER}/oauth/token`,
          revocation_endpoint: `${FAKE_ISSUER}/oauth/revoke`,
        })
      }
      if (url.origin === FAKE_ISSUER && url.pathname === '/oauth/token') {
        const form = new URLSearchParams(await req.text())
        provider.refreshes++
        await new Promise((r) => setTimeout(r, provider.delayMs))
        if (provider.failWith) return provider.failWith(req)
        if (form.get('grant_type') !== 'refresh_token' || form.get('client_id') !== FAKE_CLIENT_ID) {
          return Response.json({ error: 'invalid_request' }, { status: 400 })
        }
        if (form.get('refresh_token') !== provider.current) {
          return Response.json({ error: 'invalid_grant', error_description: 'refresh token was already used', error_reason: 'reused' }, { status: 400 })
        }
        generation++
        provider.current = `rt-${generation}`
        return Response.json({
          access_token: `at-${generation}`,
          token_type: 'Bearer',
          expires_in: 900,
          refresh_token: provider.current,
          refresh_token_expires_in: 86_400,
          scope: 'openid',
        })
      }
      if (url.origin === FAKE_ISSUER && url.pathname === '/oauth/revoke') {
        provider.revocations.push(new URLSearchParams(await req.text()).get('token') ?? '')
        return new Response(null, { status: 200 })
      }
      return provider.api(req)
    },
  }
  return provider
}

/** A stored session for the fake provider, expiring `accessLeftMs` after `now`. */
export function fakeSession(now: number, accessLeftMs: number, extra: Partial<StoredSession> = {}): StoredSession {
  return {
    version: 1,
    issuer: FAKE_ISSUER,
    client_id: FAKE_CLIENT_ID,
    access_token: 'at-0',
    access_token_expires_at: now + accessLeftMs,
    refresh_token: 'rt-0',
    refresh_token_expires_at: now + 86_400_000,
    token_type: 'Bearer',
    obtained_at: now - 60_000,
    ...extra,
  }
}
