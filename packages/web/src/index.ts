// @evergreen/web: the runtime-agnostic core. Adapters live in their own entry points:
// @evergreen/web/hono, @evergreen/web/express, @evergreen/web/node, @evergreen/web/redis.
export { createEvergreenWeb, withCookies } from './web.js'
export type { AuthResult, CookieSession, EvergreenWeb, TokenSession, WebSession } from './web.js'
export type { ApiTokenOptions, DenialReason, EvergreenWebOptions, LoginRequiredContext, WebConfig } from './config.js'
export { EvergreenWebError, WebConfigError } from './errors.js'
export type { ConfigProblem, ConfigProblemCode, WebErrorCode } from './errors.js'
export type { RefreshFailure, WebEvent } from './events.js'
export { createMemoryRevocationList } from './revocation-list.js'
export type { Revocation, RevocationList, SessionIdentity } from './revocation-list.js'
export { assessSessionSecret } from './session-secret.js'
export { safeReturnTo } from './return-to.js'
export type { AccessClaims } from './access-token.js'
