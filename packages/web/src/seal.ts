import { decodeBase64url, encodeBase64url } from '@evergreen/core'

/** What a sealed value is for; bound into the ciphertext so one kind cannot pass for another. */
export type SealPurpose = 'session' | 'login'

/** Keys derived once from the session secret. */
export interface SealKeys {
  aead: CryptoKey
  mac: CryptoKey
}

const VERSION = 'v1'
const enc = new TextEncoder()

/**
 * Derives the sealing and MAC keys from the session secret with HKDF-SHA-256 (RFC 5869), one
 * `info` per use, so the AES key never doubles as the CSRF MAC key.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export async function deriveSealKeys(secret: Uint8Array): Promise<SealKeys> {
  const ikm = await crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveKey'])
  const hkdf = (info: string) => ({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode('evergreen-web'), info: enc.encode(info) })
  const [aead, mac] = await Promise.all([
    crypto.subtle.deriveKey(hkdf('cookie-seal v1'), ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
    crypto.subtle.deriveKey(hkdf('csrf-mac v1'), ikm, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign', 'verify']),
  ])
  return { aead, mac }
}

/**
 * Seals a JSON value with AES-256-GCM: `v1.<base64url(iv ‖ ciphertext ‖ tag)>`. The purpose is
 * the additional data, so a login-transaction cookie pasted into the session cookie fails to open.
 *
 * @example const value = await seal(keys, 'session', { rt }, crypto.getRandomValues(new Uint8Array(12)))
 */
export async function seal(keys: SealKeys, purpose: SealPurpose, payload: unknown, iv: Uint8Array): Promise<string> {
  const ciphertext = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: enc.encode(purpose) },
    keys.aead,
    enc.encode(JSON.stringify(payload)),
  )
  const out = new Uint8Array(iv.length + ciphertext.byteLength)
  out.set(iv)
  out.set(new Uint8Array(ciphertext), iv.length)
  return `${VERSION}.${encodeBase64url(out)}`
}

/** Largest sealed value opened; a real one is about 1.5 KB, a cookie at most 4 KB. */
const MAX_SEALED = 4096

/**
 * Opens a value made by {@link seal}. Returns undefined for anything else — garbled, truncated,
 * another app's cookie, another purpose, the wrong key — so callers treat it as absent.
 */
export async function unseal(keys: SealKeys, purpose: SealPurpose, value: string): Promise<unknown> {
  if (value.length > MAX_SEALED || !value.startsWith(`${VERSION}.`)) return undefined
  const bytes = decodeBase64url(value.slice(VERSION.length + 1))
  if (!bytes || bytes.length < 12 + 16) return undefined
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, 12) as Uint8Array<ArrayBuffer>, additionalData: enc.encode(purpose) },
      keys.aead,
      bytes.subarray(12) as Uint8Array<ArrayBuffer>,
    )
    return JSON.parse(new TextDecoder().decode(plain)) as unknown
  } catch {
    return undefined
  }
}

/** HMAC-SHA-256 of `message` under the MAC key, base64url. */
export async function mac(keys: SealKeys, message: string): Promise<string> {
  return encodeBase64url(new Uint8Array(await crypto.subtle.sign('HMAC', keys.mac, enc.encode(message))))
}

/** SHA-256 of a string, base64url: the key of a refresh token in caches, never the token itself. */
export async function sha256(text: string): Promise<string> {
  return encodeBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text))))
}

/** Compares two strings in time that depends only on their length. */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
