import { decodeBase64url } from '@evergreen/core'

/**
 * The payload of a JWT, for display only (`whoami`, the expiry of `EVERGREEN_TOKEN`). Nothing is
 * verified: the token service and the APIs decide whether a token is good; this only reads what
 * it claims. Undefined for anything that is not a JWT with a JSON object payload.
 */
export function readJwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const bytes = decodeBase64url(parts[1]!)
  if (!bytes) return undefined
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
