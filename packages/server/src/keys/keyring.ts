import { generateKeyPairSync, createHash } from 'node:crypto'
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK, type JWTPayload, type JWTVerifyResult } from 'jose'
import { deriveKey, open, seal } from '../crypto/aead.js'
import type { SigningKeyRecord, Store } from '../store/types.js'
import { createJwtSigner, type JwtSigner } from './signer.js'
import { ServerError } from '../errors.js'

/** Public JWKS as served at `jwks_uri` (RFC 7517). */
export interface Jwks {
  keys: JWK[]
}

export interface Keyring {
  /** The key to sign with now: the newest key whose activation has passed. */
  signer(): { kid: string; signAccessToken: JwtSigner; signIdToken: JwtSigner; signLogoutToken: JwtSigner }
  /** Every key a verifier may meet: active, not yet active (published early), and retired-but-unexpired. */
  jwks(): Jwks
  /**
   * Verifies a token signed by this service from the local keys, never by fetching our own URL.
   * `typ` is required: access tokens (`at+jwt`) and ID tokens (`JWT`) share keys and issuer, so
   * without it either passes for the other (an ID token revoking a session, say).
   */
  verify(token: string, options: { issuer: string; audience?: string; typ: string; acceptExpired?: boolean }): Promise<JWTVerifyResult>
  /** Re-reads keys from the store (another node may have rotated). */
  reload(): Promise<void>
  /**
   * Adds a key that starts signing after `activateAfter` seconds, so every node and every cached
   * JWKS has it first, and schedules the current key to stop signing then and leave the JWKS
   * once its last access token has expired.
   */
  rotate(options: { activateAfter: number; alg?: 'ES256' | 'RS256' }): Promise<SigningKeyRecord>
  /**
   * Revokes a (compromised) key now: it leaves the JWKS and this node's verifier at once, and
   * other nodes' at their next {@link Keyring.reload}. Refuses to revoke the key signing now
   * unless another key is already active: rotate with `activateAfter: 0` first, so the service
   * never has nothing to sign with.
   *
   * @throws KeyRevocationError KEY_NOT_FOUND or KEY_IS_ONLY_SIGNER
   */
  revoke(kid: string): Promise<SigningKeyRecord>
  list(): SigningKeyRecord[]
}

export class KeyRevocationError extends ServerError<'KEY_NOT_FOUND' | 'KEY_IS_ONLY_SIGNER'> {
  override name = 'KeyRevocationError'
}

export interface KeyringOptions {
  store: Store
  secret: string
  now(): number
  alg: 'ES256' | 'RS256'
  /** The longest access-token lifetime any client may have: how long a retired key stays published. */
  maxAccessTokenTtl: number
  /**
   * Called after this keyring rotated or revoked a key, so the other processes of this machine
   * reload now rather than at their next periodic reload (node/cluster.ts); awaited, so the
   * rotation or revocation answers only once they have.
   */
  onChange?: () => void | Promise<void>
}

export class KeyDecryptionError extends ServerError<'KEY_DECRYPTION_FAILED'> {
  constructor(kid: string) {
    super('KEY_DECRYPTION_FAILED', `signing key ${kid} cannot be decrypted: EVERGREEN_SECRET differs from the one that created it`)
    this.name = 'KeyDecryptionError'
  }
}

interface LoadedKey {
  record: SigningKeyRecord
  signAccessToken: JwtSigner
  signIdToken: JwtSigner
  signLogoutToken: JwtSigner
}

/** Creates the keyring, generating a first key when the store has none. */
export async function createKeyring(options: KeyringOptions): Promise<Keyring> {
  const box = deriveKey(options.secret, 'evergreen/signing-keys/v1')
  let loaded: LoadedKey[] = []
  let jwks: Jwks = { keys: [] }
  let jwkSet = createLocalJWKSet(jwks)

  const load = async () => {
    const now = options.now()
    const records = (await options.store.listSigningKeys()).filter((k) => k.expires_at === null || k.expires_at > now)
    const next: LoadedKey[] = []
    for (const record of records) {
      const known = loaded.find((k) => k.record.kid === record.kid)
      if (known) {
        next.push({ ...known, record })
        continue
      }
      const pem = open(box, record.private_sealed, record.kid)
      if (pem === undefined) throw new KeyDecryptionError(record.kid)
      next.push({
        record,
        signAccessToken: createJwtSigner(record.kid, record.alg, pem, 'at+jwt'),
        signIdToken: createJwtSigner(record.kid, record.alg, pem, 'JWT'),
        // OIDC Back-Channel Logout §2.4: explicit typing, so a logout token cannot pass for an ID token.
        signLogoutToken: createJwtSigner(record.kid, record.alg, pem, 'logout+jwt'),
      })
    }
    loaded = next
    jwks = { keys: loaded.map((k) => ({ ...(k.record.public_jwk as JWK), kid: k.record.kid, alg: k.record.alg, use: 'sig' })) }
    jwkSet = createLocalJWKSet(jwks)
  }

  const generate = async (alg: 'ES256' | 'RS256', activatesAt: number): Promise<SigningKeyRecord> => {
    const pair =
      alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 })
    const publicJwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
    // RFC 7638 thumbprint as kid: stable, derived from the key, reveals nothing.
    const members =
      alg === 'ES256'
        ? { crv: publicJwk.crv, kty: publicJwk.kty, x: publicJwk.x, y: publicJwk.y }
        : { e: publicJwk.e, kty: publicJwk.kty, n: publicJwk.n }
    const kid = createHash('sha256').update(JSON.stringify(members)).digest('base64url')
    const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    const record: SigningKeyRecord = {
      kid,
      alg,
      public_jwk: publicJwk,
      private_sealed: seal(box, pem, kid),
      created_at: options.now(),
      activates_at: activatesAt,
      retired_at: null,
      expires_at: null,
    }
    await options.store.insertSigningKey(record)
    return record
  }

  await load()
  if (loaded.length === 0) {
    await generate(options.alg, options.now())
    await load()
  }

  const current = (): LoadedKey => {
    const now = options.now()
    let best: LoadedKey | undefined
    for (const k of loaded) {
      if (k.record.activates_at > now) continue
      if (k.record.retired_at !== null && k.record.retired_at <= now) continue
      if (!best || k.record.activates_at > best.record.activates_at) best = k
    }
    // Every key retired but none active cannot happen through rotate(); fall back to the newest
    // rather than refuse service.
    return best ?? loaded[loaded.length - 1]!
  }

  return {
    signer() {
      const k = current()
      return { kid: k.record.kid, signAccessToken: k.signAccessToken, signIdToken: k.signIdToken, signLogoutToken: k.signLogoutToken }
    },
    jwks: () => jwks,
    async verify(token, opts) {
      let at = options.now()
      if (opts.acceptExpired) {
        // Only the clock moves (to just before `exp`); signature, iss, aud and typ are checked as
        // ever. decodeJwt throws on garbage, which the caller treats like a bad signature.
        const exp = decodeJwt(token).exp
        if (typeof exp === 'number' && exp <= at) at = exp - 1
      }
      return jwtVerify(token, jwkSet, {
        issuer: opts.issuer,
        ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
        typ: opts.typ,
        algorithms: ['ES256', 'RS256'],
        currentDate: new Date(at * 1000),
      }) as Promise<JWTVerifyResult<JWTPayload>>
    },
    reload: load,
    async rotate({ activateAfter, alg }) {
      const activatesAt = options.now() + activateAfter
      const record = await generate(alg ?? options.alg, activatesAt)
      await options.store.retireSigningKeysExcept(record.kid, activatesAt, activatesAt + options.maxAccessTokenTtl + 60)
      await load()
      await options.onChange?.()
      return loaded.find((k) => k.record.kid === record.kid)!.record
    },
    async revoke(kid) {
      await load()
      const target = loaded.find((k) => k.record.kid === kid)
      if (!target) throw new KeyRevocationError('KEY_NOT_FOUND', 'no such signing key (or it has already expired)')
      const now = options.now()
      const usable = (k: LoadedKey) => k.record.activates_at <= now && (k.record.retired_at === null || k.record.retired_at > now)
      if (current().record.kid === kid && !loaded.some((k) => k.record.kid !== kid && usable(k))) {
        throw new KeyRevocationError('KEY_IS_ONLY_SIGNER', 'this key is the only one signing; rotate with activate_after 0 first, then revoke it')
      }
      await options.store.revokeSigningKey(kid, now)
      await load()
      await options.onChange?.()
      return { ...target.record, retired_at: Math.min(target.record.retired_at ?? now, now), expires_at: now }
    },
    list: () => loaded.map((k) => k.record),
  }
}
