/**
 * The protected resource metadata document (RFC 9728 §2), the fields an MCP client reads.
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export interface ProtectedResourceMetadata {
  resource: string
  authorization_servers: string[]
  scopes_supported?: string[]
  bearer_methods_supported: string[]
  dpop_signing_alg_values_supported?: string[]
  dpop_bound_access_tokens_required?: boolean
  resource_name?: string
  resource_documentation?: string
}

/** The well-known path segment of RFC 9728 §3. */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource'

/**
 * Where a resource's metadata lives: the well-known segment inserted between host and path
 * (RFC 9728 §3.1), so `https://api.example/mcp` → `https://api.example/.well-known/oauth-protected-resource/mcp`.
 *
 * @example metadataUrlFor('https://api.example/mcp') // 'https://api.example/.well-known/oauth-protected-resource/mcp'
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.1
 */
export function metadataUrlFor(resource: string): string {
  const url = new URL(resource)
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}`
}

/**
 * The answer to a metadata request, or undefined when `req` is not one. Both the path-suffixed
 * form and the bare well-known path are served: clients that only know the origin (older MCP
 * clients, the MCP Inspector's fallback) try the bare one. The document is public and read by
 * browser-based clients from another origin, hence `access-control-allow-origin: *`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function metadataResponse(req: Request, doc: ProtectedResourceMetadata): Response | undefined {
  const { pathname } = new URL(req.url)
  const own = new URL(metadataUrlFor(doc.resource)).pathname
  if (pathname !== own && pathname !== PROTECTED_RESOURCE_WELL_KNOWN) return undefined
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, OPTIONS', 'access-control-allow-headers': 'mcp-protocol-version' }
  if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors })
  if (req.method !== 'GET' && req.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD, OPTIONS' } })
  return new Response(req.method === 'HEAD' ? null : JSON.stringify(doc), {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', ...cors },
  })
}
