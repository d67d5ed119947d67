import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { EvergreenWeb } from '../web.js'
import { APP, createWebFixture, ISSUER, signIn, TwoOriginBrowser, type WebFixture } from './fixture.js'

/**
 * What every adapter's app must serve, so one suite checks them all:
 * - `GET /` public: `home:<sub or anonymous>`
 * - `GET /api/me` protected JSON `{ sub }`
 * - `GET /dashboard` protected text `dashboard:<sub>`
 * - `GET /stream` protected, written in two chunks: `ab`
 * - `GET /go` protected, the app's own redirect to `/elsewhere`
 */
export interface AdapterApp {
  handler(request: Request): Promise<Response>
  close(): Promise<void>
}

/**
 * Forwards a Request to a real server on 127.0.0.1:port over node:http, redirects not followed.
 * Not fetch(): undici adds `Sec-Fetch-Mode: cors` to everything, which would make every request
 * look like an API call.
 */
export function forwardTo(port: number): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url)
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : Buffer.from(await request.arrayBuffer())
    const headers: Record<string, string> = {}
    request.headers.forEach((v, k) => (headers[k] = v))
    if (body) headers['content-length'] = String(body.length)
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: `${url.pathname}${url.search}`, method: request.method, headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const h = new Headers()
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue
            for (const one of Array.isArray(v) ? v : [v]) h.append(k, one)
          }
          const status = res.statusCode ?? 500
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }))
        })
      })
      req.on('error', reject)
      req.end(body)
    })
  }
}

const rotated = (res: Response) => {
  const lines = res.headers.getSetCookie()
  return lines.some((l) => /^evergreen\.at\.\d+=ey/.test(l)) && lines.some((l) => /^evergreen\.rt\.\d+=v1\./.test(l))
}

/** The behavioural suite every adapter runs. */
export function adapterContract(name: string, start: (web: EvergreenWeb) => Promise<AdapterApp>): void {
  describe(`${name} adapter`, () => {
    let f: WebFixture
    let app: AdapterApp
    let b: TwoOriginBrowser
    const evictAccess = () => {
      for (const n of [...b.jar(APP).keys()]) if (/\.at\.\d+$/.test(n)) b.jar(APP).delete(n)
    }

    beforeAll(async () => {
      f = await createWebFixture({ baseUrl: APP })
      app = await start(f.web)
      b = new TwoOriginBrowser({ [APP]: app.handler, [ISSUER]: (req) => Promise.resolve(f.svc.app.fetch(req)) })
    })
    afterAll(() => app?.close())

    test('no session: public page served; API 401 JSON; navigation → login with return_to', async () => {
      expect(await (await b.send(`${APP}/`)).text()).toBe('home:anonymous')
      const apiRes = await b.send(`${APP}/api/me`)
      expect(apiRes.status).toBe(401)
      expect(await apiRes.json()).toMatchObject({ error: 'session_expired' })
      const nav = await b.send(`${APP}/dashboard`, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } })
      expect(nav.status).toBe(303)
      expect(nav.headers.get('location')).toBe('/auth/login?return_to=%2Fdashboard')
    })

    test('sign in through the adapter; the session reaches the route', async () => {
      const cb = await signIn(f, b, '/dashboard')
      expect(cb.status).toBe(303)
      expect(cb.headers.get('location')).toBe('/dashboard')
      const me = await b.send(`${APP}/api/me`)
      expect(me.status).toBe(200)
      const { sub } = (await me.json()) as { sub: string }
      expect(sub).toMatch(/\S/)
      expect(await (await b.send(`${APP}/`)).text()).toBe(`home:${sub}`)
      expect(await (await b.send(`${APP}/dashboard`)).text()).toBe(`dashboard:${sub}`)
    })

    test('a refresh during a streamed response: the rotated cookies reach the browser', async () => {
      evictAccess()
      f.svc.clock.advance(2)
      const res = await b.send(`${APP}/stream`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('ab')
      expect(rotated(res)).toBe(true)
      expect((await b.send(`${APP}/api/me`)).status).toBe(200)
    })

    test("a refresh on the app's own redirect: the rotated cookies ride on the redirect", async () => {
      evictAccess()
      f.svc.clock.advance(2)
      const res = await b.send(`${APP}/go`)
      expect([301, 302, 303, 307]).toContain(res.status)
      expect(res.headers.get('location')).toMatch(/\/elsewhere$/)
      expect(rotated(res)).toBe(true)
    })

    test('logout through the adapter: form POST with the CSRF token clears the cookies', async () => {
      const page = await b.send(`${APP}/auth/logout`)
      expect(page.status).toBe(200)
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!
      const res = await b.send(`${APP}/auth/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: APP }, body: `csrf=${encodeURIComponent(csrf)}` })
      expect(res.status).toBe(303)
      expect([...b.jar(APP).keys()]).toEqual([])
      expect((await b.send(`${APP}/api/me`)).status).toBe(401)
    })
  })
}
