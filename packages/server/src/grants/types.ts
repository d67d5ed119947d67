import type { GrantType, TokenResponse, VerifiedDpopProof } from '@evergreen/core'
import type { Deps } from '../deps.js'
import type { OAuthRequest } from '../http/oauth-endpoint.js'
import type { ClientRecord } from '../store/types.js'

/**
 * What every grant handler receives from the token endpoint: the request, with the client
 * already authenticated and allowed this grant (endpoints/token.ts checks both, once).
 */
export interface GrantContext extends Omit<OAuthRequest, 'client'> {
  client: ClientRecord
  /** The request's DPoP proof, verified and its jti recorded (http/dpop-proof.ts); absent without one. */
  dpop?: VerifiedDpopProof | undefined
}

/** What a grant's optional `prepare` read yields: the client row, when that read found it. */
export interface Prepared<P> {
  /** Saves client authentication a read (the refresh hot path reads token and client at once). */
  client?: ClientRecord
  value: P
}

/**
 * One grant type, in node-oidc-provider's small shape: a new grant is one file plus one registry
 * line. `prepare` runs before client authentication, for a grant whose first read also finds the
 * client; `handle` runs after it.
 */
export interface Grant<P = unknown> {
  grantType: GrantType
  parameters: readonly string[]
  prepare?(request: OAuthRequest, deps: Deps): Promise<Prepared<P>>
  handle(ctx: GrantContext, deps: Deps, prepared: P): Promise<TokenResponse>
}
