import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'

// Upstream SSO end to end against a real OpenID Connect provider (node-oidc-provider) on a
// loopback port: Evergreen is its confidential client, exactly as with a company's IdP.

const CALLBACK = 'http://evergreen.test/login/upstream/callback'
const UPSTREAM_SECRET = 'upstream-client-secret-0123456789'
let accounts: Record<string, { email: string; email_verified: boolean; name: string }>
let server: Server
let issuer: string
let provider: Provider

beforeAll(async () => {
  server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  provider = new Provider(issuer, {
    clients: [{ client_id: 'evergreen', client_secret: UPSTREAM_SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, ...accounts[id] }) }),
    cookies: { keys: ['upstream-cookie-key-for-tests'] },
  })
  // The upstream's own login UI, automated: whoever the test says is "at the keyboard" signs in
  // and consents to everything asked.
  let signingIn = 'alice'
  ;(globalThis as { setUpstreamUser?: (id: string) => void }).setUpstreamUser = (id) => void (signingIn = id)
  const callback = provider.callback()
  server.on('request', async (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res)
    const details = await provider.interactionDetails(req, res)
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId: signingIn } }, { mergeWithLastSubmission: false })
      return
    }
    const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string })
    grant.addOIDCScope(String(details.params.scope))
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true })
  })
})
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

let svc: TestService
let browser: PageClient
beforeEach(async () => {
  accounts = {
    alice: { email: 'alice@corp.example', email_verified: true, name: 'Alice Upstream' },
    mallory: { email: 'admin@corp.example', email_verified: false, name: 'Mallory' },
  }
  svc = await createTestService({
    env: { EVERGREEN_UPSTREAM_ISSUER: issuer, EVERGREEN_UPSTREAM_CLIENT_ID: 'evergreen', EVERGREEN_UPSTREAM_CLIENT_SECRET: UPSTREAM_SECRET, EVERGREEN_UPSTREAM_NAME: 'Corp SSO' },
  })
  browser = new PageClient(svc)
})
afterEach(async () => {
  await svc?.close()
})

/** Walks the upstream's redirects (keeping its cookies) until it sends the browser back to us. */
async function throughUpstream(start: string): Promise<string> {
  const jar = new Map<string, string>()
  let url = start
  for (let hops = 0; hops < 10; hops++) {
    if (url.startsWith(CALLBACK)) return url
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } })
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const i = pair!.indexOf('=')
      jar.set(pair!.slice(0, i), pair!.slice(i + 1))
    }
    const location = res.headers.get('location')
    if (!location) throw new Error(`upstream stopped at ${url} with ${res.status}: ${await res.text()}`)
    url = new URL(location, url).toString()
  }
  throw new Error('too many upstream redirects')
}

async function signInUpstream(as: string, returnTo = '%2Fsettings%2Fsessions'): Promise<Response> {
  ;(globalThis as unknown as { setUpstreamUser: (id: string) => void }).setUpstreamUser(as)
  const login = await browser.get('/login?return_to=/settings/sessions')
  expect(await login.text()).toContain('Sign in with Corp SSO')
  const started = await browser.get(`/login/upstream?return_to=${returnTo}`)
  expect(started.status).toBe(303)
  const back = new URL(await throughUpstream(started.headers.get('location')!))
  return browser.get(back.pathname + back.search)
}

describe('upstream OIDC sign-in', () => {
  test('a verified upstream user is created on first sign-in and lands where they were going', async () => {
    const res = await signInUpstream('alice')
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/settings/sessions')
    expect(await (await browser.get('/settings/sessions')).text()).toContain('alice@corp.example')
    const user = await json<{ name: string; has_password: boolean }>(await svc.admin('GET', '/users/alice@corp.example'))
    expect(user).toMatchObject({ name: 'Alice Upstream', has_password: false })
  })

  test('an existing account with the same email is matched, not duplicated', async () => {
    const existing = await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'Alice@Corp.example', password: 'local password 123' }), 201)
    expect((await signInUpstream('alice')).status).toBe(303)
    const users = await json<{ items: { id: string }[] }>(await svc.admin('GET', '/users'))
    expect(users.items.map((u) => u.id)).toEqual([existing.id])
  })

  test('an unverified upstream email is refused and no account is created', async () => {
    const res = await signInUpstream('mallory')
    expect(res.status).toBe(403)
    expect(await res.text()).toContain('Email not verified')
    expect((await svc.admin('GET', '/users/admin@corp.example')).status).toBe(404)
  })

  test('after the first verified-email match the link is by subject: a changed upstream email still signs in the same account', async () => {
    expect((await signInUpstream('alice')).status).toBe(303)
    const first = await json<{ id: string }>(await svc.admin('GET', '/users/alice@corp.example'))
    accounts.alice!.email = 'alice.renamed@corp.example'
    browser = new PageClient(svc)
    expect((await signInUpstream('alice')).status).toBe(303)
    expect(await (await browser.get('/settings/sessions')).text()).toContain('alice@corp.example')
    const users = await json<{ items: { id: string }[] }>(await svc.admin('GET', '/users'))
    expect(users.items.map((u) => u.id)).toEqual([first.id])
  })

  test('a second upstream account claiming a linked account\'s verified email is refused', async () => {
    expect((await signInUpstream('alice')).status).toBe(303)
    accounts.eve = { email: 'Alice@corp.example', email_verified: true, name: 'Eve' }
    browser = new PageClient(svc)
    const res = await signInUpstream('eve')
    expect(res.status).toBe(403)
    expect(await res.text()).toContain('linked to a different Corp SSO account')
    expect((await browser.get('/settings/sessions')).status).toBe(303)
  })

  test('an upstream email that only Unicode-folds to a local one is a different account', async () => {
    const kate = await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'kate@corp.example', password: 'local password 123' }), 201)
    accounts.kelvin = { email: '\u212Aate@corp.example', email_verified: true, name: 'Not Kate' }
    expect((await signInUpstream('kelvin')).status).toBe(303)
    const page = await (await browser.get('/settings/sessions')).text()
    expect(page).not.toContain('>kate@corp.example<')
    const users = await json<{ items: { id: string; email: string }[] }>(await svc.admin('GET', '/users'))
    expect(users.items).toHaveLength(2)
    expect(users.items.find((u) => u.id === kate.id)?.email).toBe('kate@corp.example')
  })

  test.each(['%2F%09%2Fevil.example%2Fx', '%2F%0d%0aSet-Cookie:x=1', '%2F%5Cevil.example', 'https:%2F%2Fevil.example'])(
    'a hostile return_to (%s) through upstream sign-in lands on our own page, never a 500',
    async (returnTo) => {
      const res = await signInUpstream('alice', returnTo)
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe('/settings/sessions')
    },
  )

  test('a callback without the flow cookie (another browser, or forged) signs nobody in', async () => {
    const res = await browser.get('/login/upstream/callback?code=abc&state=xyz')
    expect(res.status).toBe(400)
    expect((await browser.get('/settings/sessions')).status).toBe(303)
  })
})
