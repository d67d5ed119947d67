import { describe, expect, test } from 'vitest'
import { AdminApiError, createAdminClient } from './admin-client.js'

// In process, with an injected fetch: no network. The end-to-end behaviour against a real
// server is in commands/admin.test.ts.

type Call = { url: string; init: RequestInit }

function fakeFetch(respond: (call: Call) => Response | Promise<Response>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = []
  const fn = async (input: string | URL | Request, init: RequestInit = {}) => {
    const call = { url: String(input), init }
    calls.push(call)
    return respond(call)
  }
  return { fetch: fn as typeof fetch, calls }
}

async function failure(promise: Promise<unknown>): Promise<AdminApiError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AdminApiError)
  return err as AdminApiError
}

describe('createAdminClient', () => {
  test('sends the bearer key and a JSON body to /admin/v1, and parses the answer', async () => {
    const { fetch, calls } = fakeFetch(() => Response.json({ id: 'usr_1' }, { status: 201 }))
    const api = createAdminClient({ url: 'http://127.0.0.1:8787/', adminKey: 'ega_key', fetch })
    expect(await api.request('POST', '/users', { email: 'a@example.com' })).toEqual({ id: 'usr_1' })
    expect(calls[0]!.url).toBe('http://127.0.0.1:8787/admin/v1/users')
    const headers = calls[0]!.init.headers as Record<string, string>
    expect(headers.authorization).toBe('Bearer ega_key')
    expect(headers['content-type']).toBe('application/json')
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual({ email: 'a@example.com' })
  })

  test('a base URL with a path keeps it', async () => {
    const { fetch, calls } = fakeFetch(() => Response.json({ items: [], next_cursor: null }))
    await createAdminClient({ url: 'https://auth.example.com/evergreen', adminKey: 'k', fetch }).request('GET', '/keys')
    expect(calls[0]!.url).toBe('https://auth.example.com/evergreen/admin/v1/keys')
  })

  test('204 resolves to undefined; GET sends no content-type', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(null, { status: 204 }))
    expect(await createAdminClient({ url: 'http://h', adminKey: 'k', fetch }).request('DELETE', '/clients/c')).toBeUndefined()
    expect((calls[0]!.init.headers as Record<string, string>)['content-type']).toBeUndefined()
  })

  test('an error response carries the server\'s error_description, error and status', async () => {
    const { fetch } = fakeFetch(() => Response.json({ error: 'invalid_request', error_description: 'email is not a valid address' }, { status: 400 }))
    const err = await failure(createAdminClient({ url: 'http://h', adminKey: 'k', fetch }).request('POST', '/users', {}))
    expect(err).toMatchObject({ code: 'ADMIN_REQUEST_FAILED', status: 400, error: 'invalid_request', exitCode: 1 })
    expect(err.message).toBe('email is not a valid address (HTTP 400)')
  })

  test('a problem response (RFC 9457) carries its detail and status, and no OAuth error', async () => {
    const { fetch } = fakeFetch(() => new Response(
      JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'user not found' }),
      { status: 404, headers: { 'content-type': 'application/problem+json' } },
    ))
    const err = await failure(createAdminClient({ url: 'http://h', adminKey: 'k', fetch }).request('GET', '/users/x'))
    expect(err).toMatchObject({ code: 'ADMIN_REQUEST_FAILED', status: 404, error: undefined, exitCode: 1 })
    expect(err.message).toBe('user not found (HTTP 404)')
  })

  test('401 says the key is wrong, where it came from and where keys come from, without the key', async () => {
    const { fetch } = fakeFetch(() => Response.json({ error: 'invalid_token', error_description: 'admin key missing or wrong' }, { status: 401 }))
    const api = createAdminClient({ url: 'http://h', adminKey: 'ega_secret', adminKeySource: '/srv/.evergreen/admin-key', fetch })
    const err = await failure(api.request('GET', '/keys'))
    expect(err).toMatchObject({ code: 'ADMIN_KEY_REFUSED', status: 401, exitCode: 1 })
    expect(err.message).toContain('refused the admin key (from /srv/.evergreen/admin-key)')
    expect(err.message).toContain('EVERGREEN_ADMIN_KEY')
    expect(err.message).not.toContain('ega_secret')
  })

  test('connection refused: is `evergreen serve` running?', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8787'), { code: 'ECONNREFUSED' })
    const { fetch } = fakeFetch(() => Promise.reject(new TypeError('fetch failed', { cause: refused })))
    const err = await failure(createAdminClient({ url: 'http://127.0.0.1:8787', adminKey: 'k', fetch }).request('GET', '/keys'))
    expect(err.code).toBe('ADMIN_UNREACHABLE')
    expect(err.message).toBe('cannot reach the token service at http://127.0.0.1:8787 (ECONNREFUSED) — is `evergreen serve` running?')
  })

  test('localhost with every address refused (AggregateError cause) is still ECONNREFUSED', async () => {
    const each = (a: string) => Object.assign(new Error(`connect ECONNREFUSED ${a}`), { code: 'ECONNREFUSED' })
    const cause = new AggregateError([each('::1:8787'), each('127.0.0.1:8787')])
    const { fetch } = fakeFetch(() => Promise.reject(new TypeError('fetch failed', { cause })))
    const err = await failure(createAdminClient({ url: 'http://localhost:8787', adminKey: 'k', fetch }).request('GET', '/keys'))
    expect(err.message).toContain('(ECONNREFUSED)')
  })

  test('a non-JSON error page is not mistaken for the admin API', async () => {
    const { fetch } = fakeFetch(() => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const err = await failure(createAdminClient({ url: 'http://h', adminKey: 'k', fetch }).request('GET', '/keys'))
    expect(err).toMatchObject({ code: 'ADMIN_BAD_RESPONSE', status: 502 })
    expect(err.message).toContain('HTTP 502')
  })

  test('an unparseable --url is a CliError before any request', () => {
    expect(() => createAdminClient({ url: 'not a url', adminKey: 'k' })).toThrow(/--url "not a url" is not a URL/)
  })
})
