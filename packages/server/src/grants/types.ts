import type { GrantType, TokenResponse } from '@evergreen/core'
import type { Requester } from '../audit.js'
import type { Deps } from '../deps.js'
import type { PresentedClient } from '../http/client-auth.js'

/** What every grant handler receives from the token endpoint. */
export interface GrantContext {
  req: Request
  form: Map<string, string>
  client: PresentedClient
  requester: Requester
}

/** One grant type, in node-oidc-provider's small shape: a new grant is one file plus one registry line. */
export interface Grant {
  grantType: GrantType
  parameters: readonly string[]
  handle(ctx: GrantContext, deps: Deps): Promise<TokenResponse>
}
