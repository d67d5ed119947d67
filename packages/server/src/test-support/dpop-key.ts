import { hashAccessToken } from '@evergreen/core'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'

/** A client's DPoP key in tests: its thumbprint and a proof maker with every claim overridable. */
export interface TestDpopKey {
  jkt: string
  jwk: JWK
  proof(claims?: ProofClaims): Promise<string>
}

export interface ProofClaims {
  htm?: string
  htu?: string
  iat?: number
  jti?: string
  nonce?: string
  /** An access token: its hash goes in `ath`. */
  accessToken?: string
  typ?: string
}

let counter = 0

/**
 * Generates an ES256 DPoP key. Proofs default to POST to `<issuer>/oauth/token` at `now()`, with a
 * fresh jti each time.
 */
export async function createDpopKey(now: () => number, issuer = 'http://evergreen.test'): Promise<TestDpopKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const jkt = await calculateJwkThumbprint(jwk, 'sha256')
  return {
    jkt,
    jwk,
    async proof(claims: ProofClaims = {}) {
      const payload: Record<string, unknown> = {
        htm: claims.htm ?? 'POST',
        htu: claims.htu ?? `${issuer}/oauth/token`,
        iat: claims.iat ?? now(),
        jti: claims.jti ?? `proof-${++counter}-${Math.random().toString(36).slice(2)}`,
      }
      if (claims.nonce !== undefined) payload.nonce = claims.nonce
      if (claims.accessToken !== undefined) payload.ath = await hashAccessToken(claims.accessToken)
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: claims.typ ?? 'dpop+jwt', jwk }).sign(privateKey)
    },
  }
}
