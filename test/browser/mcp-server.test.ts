import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { decodeJwt } from 'jose'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCallbackServer, type CallbackServer } from '../support/callback-server.js'
import { startClockedServerProcess, startNodeChild, type ClockedServerProcess, type NodeChild } from '../support/node-child.js'
import { CHROMIUM_PATH, chromiumInstalled, launchChromium, openGuardedPage } from '../support/chromium.js'
import { admin, freePort, mintSession, REPO_ROOT } from '../support/server-process.js'

// From zero to a tool call, the way an MCP host does it: the official MCP TypeScript SDK's
// Client and StreamableHTTPClientTransport, with its own OAuthClientProvider, against
// examples/mcp-server and an Evergreen server, each a real child process. The SDK discovers the
// protected resource metadata (RFC 9728) from the 401, then Evergreen's metadata, sends the
// person through authorization code + PKCE with `resource` (RFC 8707) in a real Chromium, calls
// the tool, and keeps calling it across access-token expiry by refreshing silently. Both
// children's clocks are moved over IPC, so expiry is crossed without a single sleep.

const available = chromiumInstalled()
if (!available) {
  if (process.env.CI === 'true') {
    test('Chromium is installed for the browser tests', () => {
      throw new Error(`${CHROMIUM_PATH} is missing: CI must run the browser tests`)
    })
  } else {
    console.warn(`\n⚠ ${CHROMIUM_PATH} is missing: test/browser/mcp-server.test.ts is SKIPPED.\n`)
  }
}

const ADMIN_KEY = 'ega_mcp-e2e-admin-key-0123456789'
const ACCESS_TOKEN_TTL = 900

/** An in-memory OAuthClientProvider, as an MCP host keeps one per server, recording what the SDK does. */
class RecordingProvider implements OAuthClientProvider {
  savedTokens: OAuthTokens[] = []
  authorizationUrls: URL[] = []
  private stored: OAuthTokens | undefined
  private verifier: string | undefined

  constructor(
    readonly redirectUrl: string,
    private client: OAuthClientInformationMixed | undefined,
    readonly clientMetadataUrl?: string,
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'MCP e2e host', redirect_uris: [this.redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }
  }
  clientInformation() {
    return this.client
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info
  }
  tokens() {
    return this.stored
  }
  saveTokens(tokens: OAuthTokens) {
    this.stored = tokens
    this.savedTokens.push(tokens)
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrls.push(url)
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier
  }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved')
    return this.verifier
  }
}

describe.skipIf(!available)('an MCP server protected by Evergreen, driven by the official MCP SDK', { timeout: 120_000 }, () => {
  let evergreen: ClockedServerProcess
  let mcp: NodeChild
  let browser: Browser
  let callback: CallbackServer
  let issuer: string
  let mcpUrl: string
  let dataDir: string
  let documentServer: HttpsServer
  let documentOrigin: string
  const documents = new Map<string, Record<string, unknown>>()
  const children: NodeChild[] = []
  const server = () => ({ url: issuer, adminKey: ADMIN_KEY })

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'evergreen-mcp-'))
    // A host's Client ID Metadata Document is served over https: a throwaway certificate for
    // 127.0.0.1, trusted by the Evergreen child through NODE_EXTRA_CA_CERTS.
    const certFile = join(dataDir, 'doc-cert.pem')
    const keyFile = join(dataDir, 'doc-key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    documentServer = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
      const body = documents.get(req.url ?? '')
      if (!body) return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify(body))
    })
    await new Promise<void>((resolve) => documentServer.listen(0, '127.0.0.1', () => resolve()))
    documentOrigin = `https://127.0.0.1:${(documentServer.address() as AddressInfo).port}`
    evergreen = await startClockedServerProcess({
      dataDir,
      adminKey: ADMIN_KEY,
      env: {
        EVERGREEN_SECRET: 'mcp-e2e-secret-that-is-at-least-32-characters',
        EVERGREEN_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
        EVERGREEN_RATE_LIMIT_TOKEN: '0',
        EVERGREEN_DYNAMIC_REGISTRATION: 'true',
        EVERGREEN_CLIENT_METADATA_ALLOW_PRIVATE: 'true',
        NODE_EXTRA_CA_CERTS: certFile,
      },
    })
    issuer = evergreen.url
    const mcpPort = await freePort()
    mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`
    mcp = await startNodeChild(join(REPO_ROOT, 'test/support/clocked-mcp-server.mjs'), {
      ipc: true,
      ready: /mcp-server listening/,
      env: { EVERGREEN_ISSUER: issuer, PORT: String(mcpPort), MCP_PUBLIC_URL: `http://127.0.0.1:${mcpPort}`, MCP_SCOPES: 'mcp:tools' },
    })
    callback = await startCallbackServer()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await callback?.stop()
    await new Promise<void>((resolve) => (documentServer ? documentServer.close(() => resolve()) : resolve()))
    await Promise.all([mcp?.stop(), evergreen?.stop(), ...children.map((c) => c.stop())])
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  /** Seconds every clocked child is ahead of the real clock. */
  let skew = 0
  const clocked: NodeChild[] = []

  /** Every clock, moved together: an MCP server must see the time Evergreen issued at. */
  async function advance(seconds: number): Promise<void> {
    skew += seconds
    await Promise.all([evergreen.advance(seconds), mcp.advance(seconds), ...clocked.map((c) => c.advance(seconds))])
  }

  /** Another example MCP server with its default settings (no required scope), on Evergreen's time. */
  async function startOpenMcpServer(): Promise<string> {
    const port = await freePort()
    const open = await startNodeChild(join(REPO_ROOT, 'test/support/clocked-mcp-server.mjs'), {
      ipc: true,
      ready: /mcp-server listening/,
      env: { EVERGREEN_ISSUER: issuer, PORT: String(port), MCP_PUBLIC_URL: `http://127.0.0.1:${port}` },
    })
    children.push(open)
    await open.advance(skew)
    clocked.push(open)
    return `http://127.0.0.1:${port}/mcp`
  }


  /** A person to sign in as, created through the admin API. */
  async function createPerson(tag: string) {
    const user = { email: `${tag}-${Math.random().toString(36).slice(2, 10)}@example.test`, password: `pw-${Math.random().toString(36).slice(2)}-Correct-Horse` }
    const id = (await admin<{ id: string }>(server(), 'POST', '/users', { ...user, name: 'MCP User' })).id
    return { ...user, id }
  }

  /**
   * The SDK's first connection: 401, discovery, a redirect to /authorize; the person signs in and
   * allows `appName` in Chromium; the code goes back through `finishAuth`. Returns the URL the SDK
   * sent the browser to.
   */
  async function authorizeInChromium(testName: string, url: string, provider: RecordingProvider, person: { email: string; password: string }, appName: string): Promise<URL> {
    const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider })
    await expect(new Client({ name: 'e2e', version: '1.0.0' }).connect(transport)).rejects.toThrow(UnauthorizedError)
    const authorizeUrl = provider.authorizationUrls.at(-1)!
    const guarded = await openGuardedPage(browser, testName)
    try {
      const { page, snap } = guarded
      await page.goto(authorizeUrl.href)
      await page.getByRole('heading', { level: 1, name: 'Sign in', exact: true }).waitFor()
      await page.getByLabel('Email').fill(person.email)
      await page.getByLabel('Password').fill(person.password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('heading', { level: 1, name: `Allow ${appName}?` }).waitFor()
      await snap('consent')
      await page.getByRole('button', { name: 'Allow' }).click()
      const returned = await callback.next()
      expect(returned.get('error_description') ?? returned.get('error')).toBeNull()
      expect(returned.get('iss')).toBe(issuer)
      await page.getByRole('heading', { level: 1, name: 'Test client' }).waitFor()
      await transport.finishAuth(returned.get('code')!)
    } finally {
      await guarded.close()
    }
    return authorizeUrl
  }

  test('dynamic registration (RFC 7591): the SDK registers itself, the person consents, the tool answers across expiry', async ({ task }) => {
    const person = await createPerson('dcr')
    // The example with its defaults: no required scope, as a self-registered client holds only standard ones.
    const openUrl = await startOpenMcpServer()
    const provider = new RecordingProvider(callback.redirectUri, undefined)
    const authorizeUrl = await authorizeInChromium(task.name, openUrl, provider, person, 'MCP e2e host')
    const clientId = provider.clientInformation()!.client_id
    expect(authorizeUrl.searchParams.get('client_id')).toBe(clientId)
    expect(authorizeUrl.searchParams.get('resource')).toBe(openUrl)
    expect((await admin<{ registration: string }>(server(), 'GET', `/clients/${clientId}`)).registration).toBe('dynamic')

    const client = new Client({ name: 'e2e', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(openUrl), { authProvider: provider }))
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ sub: person.id, client_id: clientId })
    expect(decodeJwt(provider.tokens()!.access_token).aud).toBe(openUrl)
    await advance(ACCESS_TOKEN_TTL + 60)
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ sub: person.id, client_id: clientId })
    expect(provider.savedTokens).toHaveLength(2)
    expect(provider.authorizationUrls).toHaveLength(1)
    await client.close()
  })

  test('Client ID Metadata Document: the SDK identifies itself by an https URL, the person consents, the tool answers across expiry', async ({ task }) => {
    const person = await createPerson('cimd')
    // The example with its defaults: no required scope, as a self-registered client holds only standard ones.
    const openUrl = await startOpenMcpServer()
    const clientId = `${documentOrigin}/oauth/mcp-host.json`
    documents.set('/oauth/mcp-host.json', {
      client_id: clientId,
      client_name: 'MCP document host',
      redirect_uris: [callback.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    })
    const provider = new RecordingProvider(callback.redirectUri, undefined, clientId)
    const authorizeUrl = await authorizeInChromium(task.name, openUrl, provider, person, 'MCP document host')
    expect(authorizeUrl.searchParams.get('client_id')).toBe(clientId)
    expect(authorizeUrl.searchParams.get('resource')).toBe(openUrl)
    expect((await admin<{ registration: string }>(server(), 'GET', `/clients/${encodeURIComponent(clientId)}`)).registration).toBe('metadata_document')

    const client = new Client({ name: 'e2e', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(openUrl), { authProvider: provider }))
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ sub: person.id, client_id: clientId })
    expect(decodeJwt(provider.tokens()!.access_token)).toMatchObject({ aud: openUrl, client_id: clientId })
    await advance(ACCESS_TOKEN_TTL + 60)
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ sub: person.id, client_id: clientId })
    expect(provider.savedTokens).toHaveLength(2)
    expect(provider.authorizationUrls).toHaveLength(1)
    await client.close()
  })

  test('pre-registered client: discovery, code + PKCE with resource in Chromium, tool calls across access-token expiry', async ({ task }) => {
    const user = { email: `mcp-${Math.random().toString(36).slice(2, 10)}@example.test`, password: `pw-${Math.random().toString(36).slice(2)}-Correct-Horse` }
    const userId = (await admin<{ id: string }>(server(), 'POST', '/users', { ...user, name: 'MCP User' })).id
    const registered = await admin<{ client_id: string }>(server(), 'POST', '/clients', {
      name: 'Claude-ish Host',
      redirect_uris: [callback.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
      allowed_scopes: ['mcp:tools', 'offline_access'],
      allowed_audiences: [mcpUrl],
    })
    const provider = new RecordingProvider(callback.redirectUri, { client_id: registered.client_id })

    // 1. Unauthenticated: the SDK reads resource_metadata from the 401, discovers Evergreen and
    //    sends the person to /authorize.
    const firstTransport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })
    await expect(new Client({ name: 'e2e', version: '1.0.0' }).connect(firstTransport)).rejects.toThrow(UnauthorizedError)
    expect(provider.authorizationUrls).toHaveLength(1)
    const authorizeUrl = provider.authorizationUrls[0]!
    expect(`${authorizeUrl.origin}${authorizeUrl.pathname}`).toBe(`${issuer}/authorize`)
    expect(Object.fromEntries(authorizeUrl.searchParams)).toMatchObject({
      client_id: registered.client_id,
      response_type: 'code',
      code_challenge_method: 'S256',
      redirect_uri: callback.redirectUri,
      resource: mcpUrl,
      scope: 'mcp:tools',
    })

    // 2. The person signs in on Evergreen's page and consents, in Chromium.
    const guarded = await openGuardedPage(browser, task.name)
    try {
      const { page, snap } = guarded
      await page.goto(authorizeUrl.href)
      await page.getByRole('heading', { level: 1, name: 'Sign in', exact: true }).waitFor()
      await page.getByLabel('Email').fill(user.email)
      await page.getByLabel('Password').fill(user.password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('heading', { level: 1, name: 'Allow Claude-ish Host?' }).waitFor()
      await snap('consent')
      await page.getByRole('button', { name: 'Allow' }).click()
      const returned = await callback.next()
      expect(returned.get('iss')).toBe(issuer)
      await page.getByRole('heading', { level: 1, name: 'Test client' }).waitFor()
      await firstTransport.finishAuth(returned.get('code')!)
    } finally {
      await guarded.close()
    }

    // 3. Connected: the token is bound to the MCP server's resource, and the tool sees the person.
    expect(provider.savedTokens).toHaveLength(1)
    const firstToken = provider.savedTokens[0]!
    expect(firstToken.refresh_token).toMatch(/^egr_/)
    expect(decodeJwt(firstToken.access_token)).toMatchObject({ iss: issuer, sub: userId, aud: mcpUrl, client_id: registered.client_id })
    const client = new Client({ name: 'e2e', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))
    const tools = await client.listTools()
    expect(tools.tools.map((t) => t.name)).toEqual(['whoami'])
    const first = await client.callTool({ name: 'whoami', arguments: { greeting: 'Hi' } })
    expect(first.structuredContent).toMatchObject({ sub: userId, client_id: registered.client_id, scopes: ['mcp:tools'] })
    expect((first.content as { text: string }[])[0]!.text).toBe(`Hi, ${userId}! Client ${registered.client_id}, scopes: mcp:tools.`)

    // 4. Across expiry, twice: the MCP server answers 401 invalid_token, the SDK refreshes at
    //    Evergreen (no browser) and retries; each call succeeds with a new token for the same person.
    for (let round = 1; round <= 2; round++) {
      const before = provider.tokens()!.access_token
      await advance(ACCESS_TOKEN_TTL + 60)
      const raw = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${before}`, 'content-type': 'application/json' }, body: '{}' })
      expect(raw.status).toBe(401)
      expect(raw.headers.get('www-authenticate')).toContain('error_description="the access token expired"')
      const again = await client.callTool({ name: 'whoami', arguments: {} })
      expect(again.structuredContent, `round ${round}`).toMatchObject({ sub: userId, client_id: registered.client_id })
      expect(provider.savedTokens).toHaveLength(1 + round)
      expect(provider.tokens()!.access_token).not.toBe(before)
    }
    expect(provider.authorizationUrls).toHaveLength(1)
    expect(new Set(provider.savedTokens.map((t) => t.refresh_token)).size).toBe(3)
    await client.close()
  })

  test('examples/mcp-server/client.js, as the README runs it: sign in once in Chromium, then the tool answers', async ({ task }) => {
    const user = { email: `readme-${Math.random().toString(36).slice(2, 10)}@example.test`, password: `pw-${Math.random().toString(36).slice(2)}-Correct-Horse` }
    const userId = (await admin<{ id: string }>(server(), 'POST', '/users', { ...user, name: 'Readme User' })).id
    const callbackPort = await freePort()
    // The example as `npm start` runs it, with its default settings (no required scope).
    const examplePort = await freePort()
    const exampleUrl = `http://127.0.0.1:${examplePort}/mcp`
    const example = await startNodeChild(join(REPO_ROOT, 'examples/mcp-server/server.js'), {
      ready: /mcp-server listening/,
      env: { EVERGREEN_ISSUER: issuer, PORT: String(examplePort), MCP_PUBLIC_URL: `http://127.0.0.1:${examplePort}` },
    })
    children.push(example)
    const clientId = (
      await admin<{ client_id: string }>(server(), 'POST', '/clients', {
        name: 'My MCP host',
        redirect_uris: [`http://127.0.0.1:${callbackPort}/callback`],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'none',
        allowed_audiences: [exampleUrl],
      })
    ).client_id
    const host = await startNodeChild(join(REPO_ROOT, 'examples/mcp-server/client.js'), {
      args: [exampleUrl],
      ready: /open this URL to sign in: \S+/,
      env: { MCP_CLIENT_ID: clientId, MCP_CALLBACK_PORT: String(callbackPort) },
    })
    try {
      const exited = new Promise<number | null>((resolve) => host.child.once('exit', (code) => resolve(code)))
      const url = /open this URL to sign in: (\S+)/.exec(host.output())![1]!
      expect(new URL(url).searchParams.get('resource')).toBe(exampleUrl)
      expect(new URL(url).searchParams.get('scope')).toBe('offline_access')
      const guarded = await openGuardedPage(browser, task.name)
      try {
        const { page } = guarded
        await page.goto(url)
        await page.getByLabel('Email').fill(user.email)
        await page.getByLabel('Password').fill(user.password)
        await page.getByRole('button', { name: 'Sign in' }).click()
        await page.getByRole('button', { name: 'Allow' }).click()
        await page.getByRole('heading', { level: 1, name: 'MCP client' }).waitFor()
      } finally {
        await guarded.close()
      }
      expect(await exited).toBe(0)
      expect(host.output()).toContain(`Hello, ${userId}! Client ${clientId}, scopes: offline_access.`)
    } finally {
      await host.stop()
    }
  })

  test('a token minted for another resource is refused by the MCP server', async () => {
    const userId = (await admin<{ id: string }>(server(), 'POST', '/users', { email: `other-${Math.random().toString(36).slice(2, 10)}@example.test` })).id
    const other = 'https://other-api.example/'
    const clientId = (
      await admin<{ client_id: string }>(server(), 'POST', '/clients', {
        name: 'two resources',
        grant_types: ['refresh_token'],
        token_endpoint_auth_method: 'none',
        allowed_scopes: ['mcp:tools'],
        allowed_audiences: [mcpUrl, other],
      })
    ).client_id
    const elsewhere = await mintSession(server(), userId, clientId, { resource: other, scope: 'mcp:tools' })
    const here = await mintSession(server(), userId, clientId, { resource: mcpUrl, scope: 'mcp:tools' })

    const call = (token: string) =>
      new Client({ name: 'e2e', version: '1.0.0' }).connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    await expect(call(elsewhere.access_token)).rejects.toMatchObject({ code: 401, message: expect.stringContaining('the access token was issued for another resource') })
    const refused = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${elsewhere.access_token}`, 'content-type': 'application/json' }, body: '{}' })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="the access token was issued for another resource"')
    // The same person, client and scope with this resource's token: accepted.
    await expect(call(here.access_token)).resolves.toBeUndefined()
  })
})
