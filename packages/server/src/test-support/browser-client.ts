import type { TestService } from './harness.js'

/**
 * A minimal cookie-keeping browser for page tests: follows nothing automatically, keeps cookies,
 * and reads the CSRF token out of the last page. It talks to whatever `fetch`-shaped transport it
 * is given: a TestService in process, or a real server over HTTP (with `origin` set, POSTs carry
 * the Origin header a browser would send). Real-browser behaviour is covered by the Chromium
 * tests; this one is for fast protocol checks.
 */
export class PageClient {
  private cookies = new Map<string, string>()
  lastHtml = ''

  constructor(
    private readonly svc: Pick<TestService, 'fetch'>,
    private readonly options: { origin?: string } = {},
  ) {}

  /** A PageClient for a real server at `base`, over the network, redirects not followed. */
  static overHttp(base: string): PageClient {
    return new PageClient({ fetch: (path, init) => fetch(new URL(path, base), { ...init, redirect: 'manual' }) }, { origin: new URL(base).origin })
  }

  async get(path: string): Promise<Response> {
    return this.send(path, { method: 'GET' })
  }

  async post(path: string, fields: Record<string, string>, options: { csrf?: boolean; origin?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const body = new URLSearchParams(fields)
    if (options.csrf !== false && !body.has('csrf')) body.set('csrf', this.csrf())
    const origin = options.origin ?? this.options.origin
    return this.send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}), ...options.headers },
      body: body.toString(),
    })
  }

  /** Signs in through the real /login form. */
  async login(email: string, password: string): Promise<Response> {
    await this.get('/login')
    return this.post('/login', { email, password })
  }

  /** Sets a cookie as another host of the site could (cookie tossing), replacing ours. */
  plantCookie(name: string, value: string): void {
    this.cookies.set(name, value)
  }

  csrf(): string {
    const m = /name="csrf" value="([^"]+)"/.exec(this.lastHtml)
    if (!m) throw new Error('no CSRF token on the last page')
    return m[1]!
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers)
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await this.svc.fetch(path, { ...init, headers })
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const i = pair!.indexOf('=')
      const name = pair!.slice(0, i)
      const value = pair!.slice(i + 1)
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    if ((res.headers.get('content-type') ?? '').startsWith('text/html')) this.lastHtml = await res.clone().text()
    return res
  }
}
