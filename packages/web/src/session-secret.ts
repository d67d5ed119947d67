/** Why a session secret was refused, or undefined when it is acceptable. */
export type SecretWeakness = 'too_short' | 'few_distinct' | 'repeated' | 'sequential' | undefined

/** The least a session secret must have: 32 bytes, as much as the AES-256 key derived from it. */
export const MIN_SECRET_BYTES = 32

/**
 * Judges a session secret. Length alone lets `aaaa…a` or `0123456789abcdef…` through, which
 * are what people type when a config asks for "32 characters", so this also refuses secrets
 * with few distinct characters, a short repeated pattern, or mostly ascending/descending runs.
 * `openssl rand -base64 32` passes every rule with a wide margin.
 *
 * @example assessSessionSecret('x'.repeat(40)) // 'few_distinct'
 */
export function assessSessionSecret(secret: string | Uint8Array): SecretWeakness {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  if (bytes.length < MIN_SECRET_BYTES) return 'too_short'
  if (new Set(bytes).size < 12) return 'few_distinct'
  for (let period = 1; period <= 16; period++) {
    let same = 0
    for (let i = period; i < bytes.length; i++) if (bytes[i] === bytes[i - period]) same++
    if (same >= (bytes.length - period) * 0.8) return 'repeated'
  }
  let steps = 0
  for (let i = 1; i < bytes.length; i++) {
    const d = bytes[i]! - bytes[i - 1]!
    if (d === 1 || d === -1) steps++
  }
  if (steps >= (bytes.length - 1) * 0.5) return 'sequential'
  return undefined
}
