#!/usr/bin/env node
// An MCP server protected by Evergreen: @evergreen/resource in front of the official MCP SDK's
// Streamable HTTP transport, plain ESM, no build step.
//
//   EVERGREEN_ISSUER=http://127.0.0.1:8787 PORT=3001 npm start -w examples/mcp-server
//
// Settings (environment):
//   EVERGREEN_ISSUER   the Evergreen issuer URL (required)
//   PORT               where to listen (default 3001); HOST (default 127.0.0.1)
//   MCP_PUBLIC_URL     the origin clients use (default http://localhost:$PORT); the MCP endpoint,
//                      and so the RFC 8707 resource tokens must be minted for, is $MCP_PUBLIC_URL/mcp
//   MCP_SCOPES         scopes every call needs, space-separated (default none: the token's audience
//                      alone decides; clients registered dynamically or by metadata document can
//                      hold only the standard scopes, so a custom scope would shut them out)
//   MCP_CORS_ORIGINS   origins of browser-based MCP hosts allowed to call /mcp, comma- or
//                      space-separated (default the MCP Inspector's, http://localhost:6274 and
//                      http://127.0.0.1:6274; "none" turns CORS off)

import { serve } from '@hono/node-server'
import { createMcpApp, DEFAULT_CORS_ORIGINS } from './app.js'

const env = process.env
const port = Number(env.PORT ?? 3001)
if (!env.EVERGREEN_ISSUER || !URL.canParse(env.EVERGREEN_ISSUER) || !Number.isInteger(port) || port < 0 || port > 65535) {
  if (!env.EVERGREEN_ISSUER || !URL.canParse(env.EVERGREEN_ISSUER)) console.error('mcp-server: EVERGREEN_ISSUER must be the Evergreen issuer URL')
  if (!Number.isInteger(port) || port < 0 || port > 65535) console.error(`mcp-server: PORT must be a port number, got ${JSON.stringify(env.PORT)}`)
  process.exit(1)
}
const publicUrl = (env.MCP_PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, '')
const scopes = (env.MCP_SCOPES ?? '').split(' ').filter(Boolean)
const corsOrigins = env.MCP_CORS_ORIGINS === undefined ? DEFAULT_CORS_ORIGINS : env.MCP_CORS_ORIGINS.trim() === 'none' ? [] : env.MCP_CORS_ORIGINS.split(/[\s,]+/).filter(Boolean)

let created
try {
  created = createMcpApp({ issuer: env.EVERGREEN_ISSUER, publicUrl, scopes, corsOrigins })
} catch (err) {
  console.error(`mcp-server: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
const { app, resource } = created
const server = serve({ fetch: app.fetch, port, hostname: env.HOST ?? '127.0.0.1' }, (info) => {
  console.error(`mcp-server listening on http://${info.address}:${info.port}, MCP endpoint ${resource.resource}`)
})
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)))
