import type { VerifiedToken } from './resource-server.js'

/**
 * The shape the MCP TypeScript SDK hands to tool handlers as `extra.authInfo` (its `AuthInfo`),
 * declared structurally so this package does not depend on the SDK.
 */
export interface McpAuthInfo {
  token: string
  clientId: string
  scopes: string[]
  expiresAt?: number
  resource?: URL
  extra?: Record<string, unknown>
}

/**
 * A verified token as the MCP SDK's `AuthInfo`: pass it as `authInfo` to
 * `WebStandardStreamableHTTPServerTransport.handleRequest`, or set it as `req.auth` for the
 * Node transport. `extra` carries `sub`, `act` and the other claims.
 *
 * @example transport.handleRequest(req, { authInfo: toMcpAuthInfo(token) })
 */
export function toMcpAuthInfo(token: VerifiedToken): McpAuthInfo {
  return {
    token: token.token,
    clientId: token.clientId,
    scopes: token.scopes,
    expiresAt: token.claims.exp,
    resource: new URL(token.resource),
    extra: { sub: token.subject, scheme: token.scheme, ...(token.claims.act ? { act: token.claims.act } : {}), claims: token.claims },
  }
}
