import { discover, ProviderError } from '@evergreen/client'

/** The claims, or why there are none (`status` when the endpoint answered with an error). */
export type UserinfoResult = { ok: true; claims: Record<string, unknown> } | { ok: false; status?: number; why: string }

/**
 * Asks the issuer's OIDC userinfo endpoint who a token belongs to. `send` makes the request with
 * the token (the session client's fetch, which renews and retries once on a 401). Never throws
 * for an unreachable or unwilling endpoint: the caller decides what a missing answer means.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 */
export async function requestUserinfo(issuer: string, send: (url: string) => Promise<Response>, fetchImpl?: typeof fetch): Promise<UserinfoResult> {
  let endpoint: unknown
  try {
    endpoint = (await discover(issuer, fetchImpl)).userinfo_endpoint
  } catch (err) {
    if (err instanceof ProviderError) return { ok: false, why: `${issuer} could not be reached: ${err.message}` }
    throw err
  }
  if (typeof endpoint !== 'string') return { ok: false, why: `${issuer} has no userinfo endpoint` }
  let res: Response
  try {
    res = await send(endpoint)
  } catch (err) {
    if (err instanceof TypeError || err instanceof ProviderError) return { ok: false, why: `the userinfo endpoint could not be reached: ${err.message}` }
    throw err
  }
  if (!res.ok) {
    await res.body?.cancel()
    const why = res.status === 403 ? 'the session lacks the openid scope that userinfo needs' : `userinfo answered HTTP ${res.status}`
    return { ok: false, status: res.status, why }
  }
  const body = (await res.json().catch(() => undefined)) as unknown
  if (typeof body !== 'object' || body === null || typeof (body as { sub?: unknown }).sub !== 'string') return { ok: false, why: 'userinfo answered something unexpected' }
  return { ok: true, claims: body as Record<string, unknown> }
}
