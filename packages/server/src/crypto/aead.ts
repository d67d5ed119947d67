import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'

// AES-256-GCM with a key derived by HKDF-SHA256. Output: base64url(iv | tag | ciphertext).
// Used with different `info` labels, so keys never cross purposes: signing keys under
// EVERGREEN_SECRET, and (opened only) rotation successors sealed under the spent token before
// successors were derived (sessions/successor.ts).

const IV_BYTES = 12
const TAG_BYTES = 16

/** Derives a 256-bit key for `info` from high-entropy input key material. */
export function deriveKey(ikm: string | Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, 32))
}

/**
 * HKDF-Expand alone (RFC 5869 §2.3, one 32-byte block: HMAC(prk, info | 0x01)) for key material
 * that is already uniformly random, such as a 256-bit refresh token: §3.3 lets Extract be skipped
 * then. 2.6 µs against 11.5 µs for hkdfSync.
 */
export function expandKey(uniformKey: string, info: string): Buffer {
  return createHmac('sha256', uniformKey).update(info).update(Buffer.of(1)).digest()
}

/** Encrypts and authenticates `plaintext`; `aad` binds it to its context (e.g. a row id). */
export function seal(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** Decrypts what {@link seal} produced; undefined when the key, aad or bytes are wrong. */
export function open(key: Buffer, sealed: string, aad: string): string | undefined {
  const raw = Buffer.from(sealed, 'base64url')
  if (raw.length < IV_BYTES + TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
