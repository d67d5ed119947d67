/**
 * What the sealed refresh cookie holds. Short keys: the cookie has to stay well under 4 KB with
 * an access token beside it. `it` is kept for the logout `id_token_hint`.
 */
export interface SessionPayload {
  v: 1
  /** The refresh token. */
  rt: string
  /** The latest ID token, for `id_token_hint` at logout. */
  it: string | undefined
  sid: string | undefined
  sub: string
  /** When the person signed in to this app (epoch seconds). */
  la: number
  /** When the session idles out unless refreshed (epoch seconds), when the service said. */
  ex: number | undefined
  /** ID-token claims worth showing (`email`, `name`), from the last ID token. */
  pr: { email?: string; name?: string } | undefined
}

const str = (v: unknown, max = 8192): v is string => typeof v === 'string' && v.length > 0 && v.length <= max
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Checks an unsealed value's shape; anything off is treated as no session. */
export function parseSessionPayload(value: unknown): SessionPayload | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const p = value as Record<string, unknown>
  if (p.v !== 1 || !str(p.rt, 1024) || !str(p.sub, 512) || !num(p.la)) return undefined
  if (p.it !== undefined && !str(p.it)) return undefined
  if (p.sid !== undefined && !str(p.sid, 512)) return undefined
  if (p.ex !== undefined && !num(p.ex)) return undefined
  const pr = typeof p.pr === 'object' && p.pr !== null ? (p.pr as Record<string, unknown>) : undefined
  return {
    v: 1,
    rt: p.rt,
    it: p.it as string | undefined,
    sid: p.sid as string | undefined,
    sub: p.sub,
    la: p.la,
    ex: p.ex as number | undefined,
    pr: pr ? { ...(str(pr.email, 320) ? { email: pr.email } : {}), ...(str(pr.name, 200) ? { name: pr.name } : {}) } : undefined,
  }
}
