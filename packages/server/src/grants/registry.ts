import * as authorizationCode from './authorization-code.js'
import * as clientCredentials from './client-credentials.js'
import * as deviceCode from './device-code.js'
import * as refreshToken from './refresh-token.js'
import * as tokenExchange from './token-exchange.js'
import type { Grant } from './types.js'

/**
 * Every grant the token endpoint serves, by grant_type. Discovery lists exactly these, and the
 * admin API registers a client only for these.
 */
export const GRANTS: ReadonlyMap<string, Grant> = new Map<string, Grant>(
  [authorizationCode, refreshToken, clientCredentials, deviceCode, tokenExchange].map((g) => [g.grantType, g]),
)

/** The grant types of {@link GRANTS}, in registry order. */
export const SERVED_GRANT_TYPES: readonly string[] = [...GRANTS.keys()]
