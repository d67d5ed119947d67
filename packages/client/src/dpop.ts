import { DpopError } from './errors.js'
import type { AuthorizationServer } from './protocol.js'
import type { DpopKeyRecord } from './session.js'

// DPoP (RFC 9449) without the crypto: the handle the request functions take, the per-server
// nonce memory, recognising a nonce challenge, and the one retry it allows. The key itself is in
// `dpop-key.ts`, imported on first use, so the token hot path never loads signing code.

/**
 * Whether to prove possession of a key: `auto` (when the server advertises ES256 in
 * `dpop_signing_alg_values_supported`), `true` (required: a server without it is an error), or
 * `false`. Decides only how a new session is created — a session that is bound stays bound.
 */
export type DpopMode = boolean | 'auto'

/**
 * Signs proofs with one session's key and remembers the servers' nonces. What the request
 * functions take as `options.dpop` (oauth4webapi's `DPoP` handle, in our shape).
 */
export interface DpopHandle {
  /** The key's RFC 7638 thumbprint (`cnf.jkt`). */
  readonly jkt: string
  /**
   * A proof for `htm` `url`, carrying the nonce last seen from that server and, with
   * `accessToken`, its hash (`ath`).
   */
  proof(htm: string, url: string, accessToken?: string): Promise<string>
  /** Remembers a `DPoP-Nonce` the response carries (RFC 9449 §8.2: any response may rotate it). */
  observe(url: string, response: Response): void
}

/**
 * The last `DPoP-Nonce` each server sent, by origin. One per session client, shared by its
 * token-endpoint and resource-server requests; kept in memory (a nonce is short-lived, and a new
 * process simply takes the one challenge again).
 */
export type DpopNonces = Map<string, string>

export interface DpopHandleOptions {
  /** Epoch ms: a proof's `iat` comes from the injected clock. */
  now(): number
  /** A fresh `jti` per proof. Default: `crypto.randomUUID()`. */
  randomId?(): string
  nonces: DpopNonces
}

/**
 * The handle for a stored key; imports the key (non-extractable) on first use.
 *
 * @throws StorageError `STORAGE_CORRUPT` (from the proof) when the stored key is damaged
 * @example const dpop = createDpopHandle(session.dpop, { now, nonces: new Map() })
 */
export function createDpopHandle(record: DpopKeyRecord, options: DpopHandleOptions): DpopHandle {
  let key: Promise<import('./dpop-key.js').DpopKey> | undefined
  let signer: Promise<typeof import('./dpop-key.js')> | undefined
  const randomId = options.randomId ?? (() => crypto.randomUUID())
  return {
    jkt: record.jkt,
    async proof(htm, url, accessToken) {
      signer ??= import('./dpop-key.js')
      const m = await signer
      key ??= m.importDpopKey(record).catch((err: unknown) => {
        key = undefined
        throw err
      })
      return m.createDpopProof(await key, {
        htm,
        htu: url,
        iat: Math.floor(options.now() / 1000),
        jti: randomId(),
        nonce: options.nonces.get(originOf(url)),
        accessToken,
      })
    },
    observe(url, response) {
      const nonce = response.headers.get('dpop-nonce')
      // RFC 9449 §8.1: the nonce is an opaque string of NQCHAR (printable ASCII, no `"` or `\`).
      if (nonce !== null && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(nonce)) options.nonces.set(originOf(url), nonce)
    },
  }
}

/**
 * Sends a request that carries a proof, and answers a nonce challenge once: when the response is
 * `use_dpop_nonce` with a new `DPoP-Nonce` (400 from a token endpoint, RFC 9449 §8; 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` from a resource server, §9), the request is built
 * again — a fresh proof with the nonce — and sent a second and last time. Without `dpop`, `send`
 * runs once. `send` must build its proof each call (a proof's `jti` is single-use).
 *
 * @example const res = await sendWithDpopNonceRetry(dpop, url, () => refreshTokenRequest(as, id, rt, { dpop }))
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export async function sendWithDpopNonceRetry(dpop: DpopHandle | undefined, url: string, send: () => Promise<Response>): Promise<Response> {
  const first = await send()
  if (!dpop) return first
  const before = first.headers.get('dpop-nonce')
  dpop.observe(url, first)
  if (before === null || !(await isDpopNonceChallenge(first))) return first
  await first.body?.cancel().catch(() => {})
  const second = await send()
  dpop.observe(url, second)
  return second
}

/**
 * True when `response` asks for a (new) nonce: a token endpoint's 400 `use_dpop_nonce`, or a
 * resource server's 401 whose `WWW-Authenticate` DPoP challenge says `use_dpop_nonce`. Reads a
 * clone, so the response stays readable.
 */
export async function isDpopNonceChallenge(response: Response): Promise<boolean> {
  if (!response.headers.has('dpop-nonce')) return false
  if (response.status === 401) return /\bDPoP\b[^]*\berror\s*=\s*"?use_dpop_nonce"?/i.test(response.headers.get('www-authenticate') ?? '')
  if (response.status !== 400) return false
  try {
    const body: unknown = await response.clone().json()
    return typeof body === 'object' && body !== null && (body as { error?: unknown }).error === 'use_dpop_nonce'
  } catch {
    return false
  }
}

/**
 * Whether a new session at `as` is bound to a key, for a login asked to use `mode`.
 *
 * @throws DpopError `DPOP_UNSUPPORTED` when `mode` is `true` and the server does not offer ES256 proofs
 */
export function wantsDpop(mode: DpopMode | undefined, as: AuthorizationServer): boolean {
  if (mode === false || mode === undefined) return false
  const algs = as.dpop_signing_alg_values_supported
  const offered = Array.isArray(algs) && algs.includes('ES256')
  if (!offered && mode === true) {
    throw new DpopError('DPOP_UNSUPPORTED', `${as.issuer} does not accept ES256 DPoP proofs (no dpop_signing_alg_values_supported with ES256 in its metadata)`, {
      issuer: as.issuer,
    })
  }
  return offered
}

/**
 * A new key (loads the crypto module): for a session about to be created with a proof of it
 * (`boundAtIssuance`), or for one issued earlier (a pasted credential).
 */
export async function newDpopKey(options: { boundAtIssuance: boolean }): Promise<DpopKeyRecord> {
  return (await import('./dpop-key.js')).generateDpopKey(options)
}

/**
 * The stored form of the DPoP key a login credential carries (loads the crypto module).
 *
 * @throws CredentialError `CREDENTIAL_MALFORMED` when it is not a usable P-256 private key
 */
export async function dpopKeyFromCredential(jwk: { kty: string; crv: string; x: string; y: string; d: string }): Promise<DpopKeyRecord> {
  return (await import('./dpop-key.js')).dpopKeyFromCredential(jwk)
}

function originOf(url: string): string {
  return new URL(url).origin
}
