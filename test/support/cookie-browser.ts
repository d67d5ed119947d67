/**
 * The browser half of a flow over plain `fetch` against a real server: keeps cookies, follows no
 * redirect by itself (so a test sees every 303 and its Location), reads the CSRF token from the
 * last HTML page and sends the page's own Origin on POST, as a browser submitting a form would.
 */
export class CookieBrowser {
  private readonly cookies = new Map<string, string>()
  /** The last HTML page received. */
  lastHtml = ''
  /** Every cookie value the server ever set here, expired ones included (for secret scans). */
  readonly seenCookieValues = new Set<string>()

  constructor(private readonly origin: string) {}

  async get(url: string | URL): Promise<Response> {
    return this.send(url, { method: 'GET' })
  }

  /** Submits a form; the CSRF token of the last page is added unless `fields` has one. */
  async post(url: string | URL, fields: Record<string, string>): Promise<Response> {
    const body = new URLSearchParams(fields)
    if (!body.has('csrf')) body.set('csrf', this.hiddenField('csrf'))
    return this.send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.origin },
      body: body.toString(),
    })
  }

  /** Follows 303/302 redirects with GET, at most `max` of them; returns the final response. */
  async follow(res: Response, max = 5): Promise<Response> {
    let current = res
    for (let i = 0; i < max && (current.status === 302 || current.status === 303); i++) {
      current = await this.get(this.locationOf(current))
    }
    return current
  }

  /** The absolute Location of a redirect. */
  locationOf(res: Response): URL {
    const location = res.headers.get('location')
    if (!location) throw new Error(`expected a redirect, got ${res.status}`)
    return new URL(location, this.origin)
  }

  /** The value of a hidden `<input name=…>` on the last page. */
  hiddenField(name: string): string {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const m = new RegExp(`name="${escaped}" value="([^"]*)"`).exec(this.lastHtml)
    if (!m) throw new Error(`no hidden field ${name} on the last page`)
    return decodeEntities(m[1]!)
  }

  /** Signs in through the real /login form, starting from a redirect to it. */
  async signIn(loginRedirect: Response, email: string, password: string): Promise<Response> {
    const form = await this.get(this.locationOf(loginRedirect))
    if (form.status !== 200) throw new Error(`GET /login answered ${form.status}`)
    // Double-submit CSRF: without the cookie the form's token is useless and POST /login is a 403.
    if (![...this.cookies.keys()].some((name) => name.startsWith('evergreen_csrf_'))) {
      throw new Error('GET /login rendered a CSRF token but set no pre-login evergreen_csrf_<id> cookie')
    }
    return this.post(new URL('/login', this.origin), { email, password, return_to: this.hiddenField('return_to') })
  }

  private async send(url: string | URL, init: RequestInit): Promise<Response> {
    const target = new URL(url, this.origin)
    const headers = new Headers(init.headers)
    // Cookies are host-only here: only the server's own origin gets them.
    if (target.origin === this.origin && this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    }
    const res = await fetch(target, { ...init, headers, redirect: 'manual' })
    if (target.origin === this.origin) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const i = pair!.indexOf('=')
        const name = pair!.slice(0, i).trim()
        const value = pair!.slice(i + 1).trim()
        if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name)
        else this.cookies.set(name, value)
        if (value !== '') this.seenCookieValues.add(value)
      }
    }
    if ((res.headers.get('content-type') ?? '').startsWith('text/html')) this.lastHtml = await res.clone().text()
    return res
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!)
}
