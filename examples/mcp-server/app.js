// The MCP server as a function of its settings: a Hono app whose /mcp endpoint is an MCP server
// (Streamable HTTP, stateless) with one tool, behind @evergreen/resource. server.js starts it
// from environment variables; tests start it with their own clock.

import { createResourceServer, toMcpAuthInfo } from '@evergreen/resource'
import { requireToken, resourceMetadata } from '@evergreen/resource/hono'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Hono } from 'hono'
import { z } from 'zod'

/** The MCP Inspector's default origins: a browser MCP host that calls /mcp from its own page. */
export const DEFAULT_CORS_ORIGINS = ['http://localhost:6274', 'http://127.0.0.1:6274']

/**
 * @param {{ issuer: string, publicUrl: string, scopes?: string[], corsOrigins?: string[], now?: () => number, fetch?: typeof fetch }} options
 *   `publicUrl` is the origin clients reach this server at; the resource is `<publicUrl>/mcp`.
 *   `corsOrigins`: browser-based MCP hosts allowed to call /mcp from their pages (default the MCP
 *   Inspector's); `[]` turns CORS off.
 */
export function createMcpApp({ issuer, publicUrl, scopes = [], corsOrigins = DEFAULT_CORS_ORIGINS, now, fetch }) {
  const resource = createResourceServer({
    resource: `${publicUrl.replace(/\/+$/, '')}/mcp`,
    issuer,
    scopes,
    // offline_access lets an MCP client ask for a refresh token, so it can call tools for days
    // without sending the person back to the browser.
    scopesSupported: [...scopes, 'offline_access'],
    resourceName: 'Evergreen example MCP server',
    // Browser-based hosts (the MCP Inspector) read the 401's WWW-Authenticate and call /mcp from
    // their own origin; the token is in the Authorization header, never a cookie.
    ...(corsOrigins.length > 0 ? { cors: { origins: corsOrigins } } : {}),
    ...(now ? { now } : {}),
    ...(fetch ? { fetch } : {}),
  })

  const app = new Hono()
  app.use(resourceMetadata(resource))
  app.get('/', (c) => c.text(`An MCP server protected by Evergreen. MCP endpoint: ${resource.resource}\n`))
  // The token is verified before the MCP layer sees the request; the tool gets the verified
  // claims through authInfo, never a token to forward (the helper forwards nothing upstream).
  // app.all: requireToken answers the CORS preflight (OPTIONS) too.
  app.all('/mcp', requireToken(resource), async (c) => {
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    const server = createMcpServer()
    await server.connect(transport)
    return transport.handleRequest(c.req.raw, { authInfo: toMcpAuthInfo(c.get('evergreenToken')) })
  })
  return { app, resource }
}

function createMcpServer() {
  const server = new McpServer({ name: 'evergreen-example', version: '0.1.0' })
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: 'Says who the MCP server sees calling: the Evergreen user, the client, the scopes.',
      inputSchema: { greeting: z.string().max(100).optional() },
    },
    async ({ greeting }, extra) => {
      const auth = extra.authInfo
      const text = `${greeting ?? 'Hello'}, ${auth.extra.sub}! Client ${auth.clientId}, scopes: ${auth.scopes.join(' ') || '(none)'}.`
      return {
        content: [{ type: 'text', text }],
        structuredContent: { sub: auth.extra.sub, client_id: auth.clientId, scopes: auth.scopes, expires_at: auth.expiresAt },
      }
    },
  )
  return server
}
