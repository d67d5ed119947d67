import { randomBytes } from 'node:crypto'
import { createTestService, json, type TestService } from '../../../server/src/test-support/harness.js'
import type { EvergreenWebOptions } from '../config.js'
import { createEvergreenWeb, withCookies, type EvergreenWeb } from '../web.js'

export const APP = 'http://127.0.0.1:3999'
export const ISSUER = 'http://evergreen.test'

/** A strong random session secret, as `openssl rand -base64 32` would make. */
export const strongSecret = () => randomBytes(32).toString('base64')

export interface WebFixture {
  svc: TestService
  web: EvergreenWeb
  clientId: string
  clientSecret: string | undefined
  email: string
  password: string
  /** What the middleware's fetch does now; tests swap it to simulate an outage. */
  transport: { fetch: typeof fetch }
  /** The app: the core in front of a JSON handler that echoes the session. */
  app(request: Request): Promise<Response>
  options: EvergreenWebOptions
}

/**
 * The real token service in process (real store, keys, pages; a hand-moved clock), a user with a
 * password, a confidential first-party client whose redirect URI is the app's callback, and the
 * middleware core talking to the service through an injectable `fetch`.
 */
export async function createWebFixture(extra: Partial<EvergreenWebOptions> = {}, env: Record<string, string> = {}, kind: 'confidential' | 'public' = 'confidential'): Promise<WebFixture> {
  const svc = await createTestService({ env: { EVERGREEN_ACCESS_TOKEN_TTL: '900', ...env } })
  const email = `web-${Math.random().toString(36).slice(2, 10)}@example.test`
  const password = `pw-${Math.random().toString(36).slice(2)}-Correct-Horse`
  await json(await svc.admin('POST', '/users', { email, password, name: 'Web User' }), 201)
  const client = await json<{ client_id: string; client_secret: string }>(
    await svc.admin('POST', '/clients', {
      name: 'dashboard',
      redirect_uris: [`${APP}/auth/callback`],
      post_logout_redirect_uris: [`${APP}/`, `${APP}/bye`],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: kind === 'public' ? 'none' : 'client_secret_basic',
      first_party: true,
    }),
    201,
  )
  const transport = { fetch: ((input, init) => Promise.resolve(svc.app.fetch(new Request(input, init)))) as typeof fetch }
  const options: EvergreenWebOptions = {
    issuer: ISSUER,
    clientId: client.client_id,
    ...(kind === 'public' ? {} : { clientSecret: client.client_secret }),
    sessionSecret: strongSecret(),
    scopes: ['openid', 'email'],
    fetch: (input, init) => transport.fetch(input, init),
    now: svc.clock.now,
    ...extra,
  }
  const web = createEvergreenWeb(options)
  const app = async (request: Request) => {
    const result = await web.require(request)
    if (result.type === 'response') return result.response
    const s = result.session
    return withCookies(Response.json({ sub: s.sub, sid: s.sid, email: s.email, exp: s.accessTokenExpiresAt }), result.headers.getSetCookie())
  }
  return { svc, web, clientId: client.client_id, clientSecret: client.client_secret, email, password, transport, app, options }
}

/**
 * A browser over two in-process origins, the app and the token service: one cookie jar per
 * origin, no automatic redirects, the page's Origin on POSTs.
 */
export class TwoOriginBrowser {
  readonly jars = new Map<string, Map<string, string>>()
  lastHtml = ''

  constructor(private readonly handlers: Record<string, (request: Request) => Promise<Response>>) {}

  jar(origin: string): Map<string, string> {
    let jar = this.jars.get(origin)
    if (!jar) this.jars.set(origin, (jar = new Map()))
    return jar
  }

  /** The app's cookies as a Cookie header value. */
  cookieHeader(origin = APP): string {
    return [...this.jar(origin)].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  request(url: string | URL, init: RequestInit = {}): Request {
    const target = new URL(url)
    const headers = new Headers(init.headers)
    const jar = this.jar(target.origin)
    if (jar.size && !headers.has('cookie')) headers.set('cookie', this.cookieHeader(target.origin))
    return new Request(target, { ...init, headers })
  }

  async send(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const req = this.request(url, init)
    const origin = new URL(req.url).origin
    const handler = this.handlers[origin]
    if (!handler) throw new Error(`no handler for ${origin}`)
    const res = await handler(req)
    this.absorb(origin, res)
    if ((res.headers.get('content-type') ?? '').startsWith('text/html')) this.lastHtml = await res.clone().text()
    return res
  }

  absorb(origin: string, res: Response): void {
    const jar = this.jar(origin)
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const i = pair!.indexOf('=')
      const name = pair!.slice(0, i).trim()
      const value = pair!.slice(i + 1).trim()
      if (/max-age=0/i.test(line) || value === '') jar.delete(name)
      else jar.set(name, value)
    }
  }

  /** Follows redirects (GET) until a non-redirect; returns it and the last URL. */
  async follow(res: Response, from: string, max = 10): Promise<{ res: Response; url: string }> {
    let current = res
    let url = from
    for (let i = 0; i < max && current.status >= 301 && current.status <= 303; i++) {
      url = new URL(current.headers.get('location')!, url).href
      current = await this.send(url)
    }
    return { res: current, url }
  }

  hidden(name: string): string {
    const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(this.lastHtml)
    if (!m) throw new Error(`no hidden ${name} on the last page:\n${this.lastHtml.slice(0, 500)}`)
    return m[1]!.replace(/&amp;/g, '&')
  }
}

/**
 * Signs in through the app's /auth/login, the service's real /authorize and /login pages, and
 * back to /auth/callback. Returns the callback's response (a 303 to `returnTo`).
 */
export async function signIn(f: WebFixture, browser: TwoOriginBrowser, returnTo = '/dashboard'): Promise<Response> {
  const start = await browser.send(`${APP}/auth/login?return_to=${encodeURIComponent(returnTo)}`)
  if (start.status !== 303) throw new Error(`/auth/login answered ${start.status}`)
  return completeLogin(f, browser, start.headers.get('location')!)
}

/**
 * From the authorization URL to the app's callback: signs in on the service's /login page when
 * it asks (a browser already signed in there goes straight back). Returns the callback's response.
 */
export async function completeLogin(f: WebFixture, browser: TwoOriginBrowser, authorize: string): Promise<Response> {
  let res = await browser.send(authorize)
  let at = authorize
  for (let i = 0; i < 6; i++) {
    const next = new URL(res.headers.get('location')!, at)
    if (next.origin === APP) return browser.send(next)
    at = next.href
    res = await browser.send(next)
    if (res.status === 200 && next.pathname === '/login') {
      res = await browser.send(`${ISSUER}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ISSUER },
        body: new URLSearchParams({ email: f.email, password: f.password, return_to: browser.hidden('return_to'), csrf: browser.hidden('csrf') }).toString(),
      })
      at = `${ISSUER}/login`
    }
    if (res.status !== 303 && res.status !== 302) throw new Error(`expected a redirect at ${at}, got ${res.status}`)
  }
  throw new Error('no redirect back to the app')
}

/** A browser with handlers for the app and the service of a fixture. */
export function browserFor(f: WebFixture): TwoOriginBrowser {
  return new TwoOriginBrowser({ [APP]: f.app, [ISSUER]: (req) => Promise.resolve(f.svc.app.fetch(req)) })
}

export { withCookies }
