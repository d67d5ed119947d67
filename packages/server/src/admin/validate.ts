import { OAuthError } from '@evergreen/core'

// Small validators for admin JSON bodies: each names the field in its 400 so an operator's script
// can see what to fix. Unknown fields are refused rather than silently ignored.

type Body = Record<string, unknown>

export function onlyFields(body: Body, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k))
  if (unknown.length > 0) throw bad(`unknown field(s): ${unknown.join(', ')}`)
}

export function optionalString(body: Body, field: string, max = 512): string | undefined {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw bad(`${field} must be a non-empty string of at most ${max} characters`)
  return v
}

export function requiredString(body: Body, field: string, max = 512): string {
  const v = optionalString(body, field, max)
  if (v === undefined) throw bad(`${field} is required`)
  return v
}

export function optionalSeconds(body: Body, field: string, max: number): number | null | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (v === null) return null
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > max) {
    throw bad(`${field} must be a whole number of seconds from 1 to ${max}`)
  }
  return v
}

export function optionalStringList(body: Body, field: string, allowed?: readonly string[]): string[] | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 2048)) {
    throw bad(`${field} must be an array of strings`)
  }
  if (allowed) {
    const wrong = v.filter((x) => !allowed.includes(x as string))
    if (wrong.length > 0) throw bad(`${field} has unsupported value(s): ${wrong.join(', ')}; allowed: ${allowed.join(', ')}`)
  }
  return [...new Set(v as string[])]
}

export function optionalBoolean(body: Body, field: string): boolean | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw bad(`${field} must be true or false`)
  return v
}

export function email(value: string): string {
  // Deliberately loose: one @, something on each side, no spaces. Real checking is a mail loop.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (!/^[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+$/.test(value) || value.length > 254) throw bad('email is not a valid address')
  return value
}

/**
 * Redirect URIs must be absolute, without fragment (RFC 6749 §3.1.2), https or loopback http
 * (RFC 8252 §7.3), or a private-use scheme for native apps (RFC 8252 §7.1).
 */
export function redirectUri(value: string): string {
  let u: URL
  try {
    u = new URL(value)
  } catch {
    throw bad(`redirect_uri ${JSON.stringify(value)} is not an absolute URI`)
  }
  if (u.hash) throw bad('redirect_uri must not contain a fragment')
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)
  if (u.protocol === 'http:' && !loopback) throw bad('redirect_uri must use https (http only for loopback)')
  if (u.protocol === 'javascript:' || u.protocol === 'data:') throw bad('redirect_uri scheme is not allowed')
  return value
}

/**
 * A logout URI (`post_logout_redirect_uris`, `backchannel_logout_uri`): absolute http(s) without
 * a fragment (OIDC Back-Channel Logout §2.2, RP-Initiated Logout §3). https, except for loopback
 * hosts or when the issuer itself is http (a development setup, where the apps are http too).
 */
export function logoutUri(value: string, field: string, issuer: string): string {
  let u: URL
  try {
    u = new URL(value)
  } catch {
    throw bad(`${field} ${JSON.stringify(value)} is not an absolute URI`)
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(`${field} must be an http(s) URL`)
  if (u.hash || value.includes('#')) throw bad(`${field} must not contain a fragment`)
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)
  if (u.protocol === 'http:' && !loopback && !issuer.startsWith('http:')) {
    throw bad(`${field} must use https (http only for loopback, or when the issuer is http)`)
  }
  return value
}

export function limitParam(value: string | undefined, fallback = 50, max = 500): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw bad(`limit must be from 1 to ${max}`)
  return n
}

export function bad(description: string): OAuthError {
  return new OAuthError('invalid_request', description)
}
