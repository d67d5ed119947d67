#!/usr/bin/env node
// Connects to an MCP server protected by Evergreen the way an MCP host does, with the official
// SDK's Client and StreamableHTTPClientTransport and an OAuthClientProvider, and calls `whoami`.
//
//   MCP_CLIENT_ID=<client_id> node client.js http://localhost:3001/mcp
//
// The client is one registered in Evergreen as a public client (--auth-method none) with the
// redirect URI http://127.0.0.1:$MCP_CALLBACK_PORT/callback (default port 8090). Tokens are kept in
// memory only: a real host stores what saveTokens() receives, unchanged, in its own secure store.

import { createServer } from 'node:http'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

const env = process.env
const serverUrl = new URL(process.argv[2] ?? 'http://localhost:3001/mcp')
const callbackPort = Number(env.MCP_CALLBACK_PORT ?? 8090)
if (!env.MCP_CLIENT_ID) {
  console.error('mcp-client: MCP_CLIENT_ID is required (a client registered in Evergreen with the redirect URI below)')
  process.exit(1)
}
const redirectUrl = `http://127.0.0.1:${callbackPort}/callback`

/** The SDK asks the host for these; an in-memory host keeps them in fields. */
class MemoryProvider {
  #client = { client_id: env.MCP_CLIENT_ID }
  #tokens
  #verifier
  redirectUrl = redirectUrl
  clientMetadata = { client_name: 'Evergreen example MCP client', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }
  clientInformation() { return this.#client }
  saveClientInformation(info) { this.#client = info }
  tokens() { return this.#tokens }
  saveTokens(tokens) { this.#tokens = tokens }
  redirectToAuthorization(url) { console.error(`open this URL to sign in: ${url.href}`) }
  saveCodeVerifier(verifier) { this.#verifier = verifier }
  codeVerifier() { return this.#verifier }
}

/** The loopback redirect URI (RFC 8252 §7.3): resolves with the authorization code. */
function listenForCode() {
  let server
  const code = new Promise((resolve, reject) => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', redirectUrl)
      // Browsers ask every origin for a favicon; a 404 would show as a console error.
      if (url.pathname === '/favicon.ico') return void res.writeHead(204).end()
      if (url.pathname !== '/callback') return void res.writeHead(404).end()
      const value = url.searchParams.get('code')
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MCP client</title></head><body><h1>MCP client</h1><p>${value ? 'Signed in. You can close this window.' : 'Sign-in did not complete.'}</p></body></html>`)
      if (value) resolve(value)
      else reject(new Error(`authorization failed: ${url.searchParams.get('error') ?? 'no code'}`))
    })
    server.once('error', reject)
    server.listen(callbackPort, '127.0.0.1')
  })
  code.catch(() => {}) // reported where it is awaited
  return { code, close: () => server.close() }
}

const provider = new MemoryProvider()
const callback = listenForCode()
let client = new Client({ name: 'evergreen-example-client', version: '0.1.0' })
let transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider })
try {
  await client.connect(transport)
} catch (err) {
  if (!(err instanceof UnauthorizedError)) throw err
  await transport.finishAuth(await callback.code)
  client = new Client({ name: 'evergreen-example-client', version: '0.1.0' })
  transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider })
  await client.connect(transport)
}
callback.close()
const result = await client.callTool({ name: 'whoami', arguments: {} })
console.log(result.content.map((c) => c.text).join('\n'))
await client.close()
