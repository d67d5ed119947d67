// examples/mcp-server's app (the same createMcpApp that `npm start` runs) in a child process
// whose clock the parent moves over IPC, like clocked-evergreen.mjs. Settings: the example's env.
import { serve } from '@hono/node-server'
import { createMcpApp } from '../../examples/mcp-server/app.js'

// Frozen at start and moved only by the test: a clock that also followed real time would tick a
// second past an advance whenever the wall clock crossed a second boundary in between.
const start = Math.floor(Date.now() / 1000)
let offset = 0
const now = () => start + offset
const env = process.env
const scopes = (env.MCP_SCOPES ?? '').split(' ').filter(Boolean)
const { app } = createMcpApp({ issuer: env.EVERGREEN_ISSUER, publicUrl: env.MCP_PUBLIC_URL, scopes, now })
const server = serve({ fetch: app.fetch, port: Number(env.PORT), hostname: '127.0.0.1' }, (info) => {
  console.error(`mcp-server listening on http://127.0.0.1:${info.port}`)
})
process.on('message', (msg) => {
  if (typeof msg?.advance === 'number') offset += msg.advance
  process.send?.({ now: now() })
})
process.once('SIGTERM', () => server.close(() => process.exit(0)))
