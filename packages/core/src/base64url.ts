/**
 * Base64url without padding (RFC 4648 §5), on Web APIs only so `core` runs anywhere.
 *
 * @example encodeBase64url(new TextEncoder().encode('hi')) // 'aGk'
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5
 */
export function encodeBase64url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * Decodes base64url (padding optional). Returns undefined for anything that is not base64url,
 * so callers turn garbage into their own 4xx instead of catching.
 */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}
