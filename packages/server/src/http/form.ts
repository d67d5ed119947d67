import { OAuthError } from '@evergreen/core'
import { readBounded } from './bounded-body.js'

/**
 * Reads an `application/x-www-form-urlencoded` body as the OAuth endpoints require
 * (RFC 6749 §3.2): wrong content type, a repeated parameter or an oversized body is
 * `invalid_request`, never a 500.
 */
export async function readForm(req: Request, maxBytes: number): Promise<Map<string, string>> {
  checkFormType(req.headers.get('content-type'))
  return parseForm(await readText(req, maxBytes))
}

/** The content type check of {@link readForm}, for a reader that gets the body another way. */
export function checkFormType(contentType: string | null | undefined): void {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'body must be application/x-www-form-urlencoded')
  }
}

/** The parameters of a form body already read within the limit (see {@link readForm}). */
export function parseForm(text: string): Map<string, string> {
  const params = new Map<string, string>()
  // NUL is never meaningful in OAuth parameters, and PostgreSQL rejects it in text: refuse it at
  // the door rather than let it become a database error.
  if (text.includes('%00') || text.includes('\0')) throw new OAuthError('invalid_request', 'parameters must not contain NUL characters')
  // Every name seen, empty or not: `client_id=&client_id=x` repeats client_id even though the
  // empty one is then treated as omitted.
  const seen = new Set<string>()
  for (const [k, v] of new URLSearchParams(text)) {
    // RFC 6749 §3.1/§3.2: "Request and response parameters MUST NOT be included more than once."
    if (seen.has(k)) throw new OAuthError('invalid_request', `parameter ${k} is repeated`)
    seen.add(k)
    // Empty values are treated as omitted (RFC 6749 §3.1).
    if (v !== '') params.set(k, v)
  }
  return params
}

/** Reads a JSON object body for the admin API, with the same guarantees. */
export async function readJsonObject(req: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') throw new OAuthError('invalid_request', 'body must be application/json')
  const text = await readText(req, maxBytes)
  if (text.includes('\\u0000') || text.includes('\0')) throw new OAuthError('invalid_request', 'body must not contain NUL characters')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new OAuthError('invalid_request', 'body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OAuthError('invalid_request', 'body must be a JSON object')
  }
  return value as Record<string, unknown>
}

async function readText(req: Request, maxBytes: number): Promise<string> {
  const declared = Number(req.headers.get('content-length') ?? '0')
  if (declared > maxBytes) throw tooLarge(maxBytes)
  if (!req.body) return ''
  const bytes = await readBounded(req.body, maxBytes)
  if (bytes === undefined) throw tooLarge(maxBytes)
  return decodeBody(bytes)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A body's bytes as text; invalid UTF-8 is `invalid_request`. */
export function decodeBody(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new OAuthError('invalid_request', 'body is not valid UTF-8')
  }
}

/** The 413 for a body over the limit, declared or counted. */
export function tooLarge(maxBytes: number): OAuthError {
  return new OAuthError('invalid_request', `body exceeds ${maxBytes} bytes`, { status: 413 })
}
