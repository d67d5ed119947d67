import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, type TestService } from '../test-support/harness.js'
import { safeReturnTo } from './forms.js'

// Open redirect after sign-in: `return_to` must land on the issuer's own origin however a browser
// reads it, and a hostile value must fall back to the default page, never a 500.

const ISSUER = 'http://evergreen.test'
const PASSWORD = 'correct horse battery'
const FALLBACK = '/settings/sessions'

// Each decoded value, as the query or form parser hands it to the page.
const HOSTILE = [
  '/\t/evil.example/x',
  '/\n/evil.example/x',
  '/\r/evil.example/x',
  '/\r\nSet-Cookie: x=1',
  '\t//evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '//evil.example',
  '///evil.example',
  '/./\t/evil.example',
  '/a/../\t/evil.example',
  '/a/..//evil.example',
  '/.//evil.example',
  'https://evil.example/x',
  'http://evergreen.test.evil.example/',
  'http://evergreen.test@evil.example/',
  'https:evil.example',
  'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  '/\u0000/evil.example',
  '/\u007f/evil.example',
  ' //evil.example',
]

/** Where a browser goes with this Location: the WHATWG parser, as browsers use it. */
const landing = (location: string) => new URL(location, ISSUER)

describe('safeReturnTo', () => {
  test.each(HOSTILE)('refuses %j', (value) => {
    const result = safeReturnTo(value, ISSUER)
    expect(landing(result).origin).toBe(ISSUER)
    expect(result.startsWith('/') && !result.startsWith('//')).toBe(true)
  })

  test('keeps a same-origin path, query and fragment', () => {
    expect(safeReturnTo('/device?user_code=ABCD-EFGH', ISSUER)).toBe('/device?user_code=ABCD-EFGH')
    expect(safeReturnTo('/authorize?a=1&b=%2F%2F#x', ISSUER)).toBe('/authorize?a=1&b=%2F%2F#x')
    expect(safeReturnTo(`${ISSUER}/settings/cli`, ISSUER)).toBe('/settings/cli')
  })

  test('non-ASCII is percent-encoded, so the Location header is plain ASCII', () => {
    const result = safeReturnTo('/caf\u00e9/\u2603?q=\u{1f600}#\u00e9', ISSUER)
    expect(result).toBe('/caf%C3%A9/%E2%98%83?q=%F0%9F%98%80#%C3%A9')
    expect(() => new Headers({ location: result })).not.toThrow()
  })
})

describe('sign-in redirect', () => {
  let svc: TestService
  beforeEach(async () => {
    svc = await createTestService()
    await json(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)
  })
  afterEach(async () => {
    await svc?.close()
  })

  const RAW_QUERY = ['/%09/evil.example/x', '/%0a/evil.example', '/%0d%0aSet-Cookie:%20x=1', '/%5Cevil.example', '/%E2%98%83', '/%C3%A9']

  test.each(RAW_QUERY)('POST /login with return_to=%s lands on our origin, never a 500', async (raw) => {
    const browser = new PageClient(svc)
    await browser.get('/login')
    const res = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: decodeURIComponent(raw) })
    expect(res.status).toBe(303)
    expect(landing(res.headers.get('location')!).origin).toBe(ISSUER)
    expect(res.headers.get('set-cookie')).toContain('evergreen_session=')
  })

  test.each(RAW_QUERY)('GET /login?return_to=%s when signed in lands on our origin, never a 500', async (raw) => {
    const browser = new PageClient(svc)
    await browser.login('ada@example.com', PASSWORD)
    const res = await browser.get(`/login?return_to=${raw}`)
    expect(res.status).toBe(303)
    expect(landing(res.headers.get('location')!).origin).toBe(ISSUER)
  })

  test('a hostile return_to falls back to the default page', async () => {
    const browser = new PageClient(svc)
    await browser.get('/login?return_to=/%09/evil.example/x')
    expect(browser.lastHtml).toContain(`name="return_to" value="${FALLBACK}"`)
    const res = await browser.post('/login', { email: 'ada@example.com', password: PASSWORD, return_to: '/\t/evil.example/x' })
    expect(res.headers.get('location')).toBe(FALLBACK)
  })
})
