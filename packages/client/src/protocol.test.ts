import { REFRESH_TOKEN_HEADER } from '@evergreen/core'
import { describe, expect, test, vi } from 'vitest'
import { OAuthResponseError, ProviderError } from './errors.js'
import { discover, processRevocationResponse, processTokenResponse, refreshTokenRequest, revocationRequest, type AuthorizationServer } from './protocol.js'

const AS: AuthorizationServer = { issuer: 'https://as.test', token_endpoint: 'https://as.test/token', revocation_endpoint: 'https://as.test/revoke' }

function recorder(answer: () => Response = () => new Response(null)) {
  const requests: Request[] = []
  const fetch = vi.fn<typeof globalThis.fetch>(async (input, init) => {
    requests.push(new Request(input, init))
    return answer()
  })
  return { fetch, requests }
}

describe('refreshTokenRequest', () => {
  test('form POST with grant_type, client_id and the token in the body', async () => {
    const { fetch, requests } = recorder()
    await refreshTokenRequest(AS, 'cid', 'egr_x', { fetch })
    const req = requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url).toBe(AS.token_endpoint)
    expect(req.headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(Object.fromEntries(new URLSearchParams(await req.text()))).toEqual({ grant_type: 'refresh_token', client_id: 'cid', refresh_token: 'egr_x' })
  })

  test('when the server advertises the Evergreen header, the token goes there and not in the body', async () => {
    const { fetch, requests } = recorder()
    await refreshTokenRequest({ ...AS, evergreen_refresh_token_header: 'Evergreen-Refresh-Token' }, 'cid', 'egr_x', { fetch })
    const req = requests[0]!
    expect(req.headers.get(REFRESH_TOKEN_HEADER)).toBe('egr_x')
    expect(await req.text()).not.toContain('egr_x')
  })

  test('a connection failure is ProviderError PROVIDER_UNAVAILABLE; the caller\'s abort stays an abort', async () => {
    const fail = () => Promise.reject(new TypeError('fetch failed'))
    await expect(refreshTokenRequest(AS, 'cid', 'egr_x', { fetch: fail })).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    const controller = new AbortController()
    controller.abort(new Error('user cancelled'))
    await expect(refreshTokenRequest(AS, 'cid', 'egr_x', { fetch: fail, signal: controller.signal })).rejects.toThrow('user cancelled')
  })

  test('a hung token service times out as ProviderError', async () => {
    const hang: typeof fetch = (_input, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))
    await expect(refreshTokenRequest(AS, 'cid', 'egr_x', { fetch: hang, timeoutMs: 20 })).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringContaining('no answer within 20 ms'),
    })
  })
})

describe('processTokenResponse', () => {
  test('a bearer token response', async () => {
    const tokens = await processTokenResponse(Response.json({ access_token: 'a', token_type: 'bearer', expires_in: 60, refresh_token: 'r' }))
    expect(tokens).toEqual({ access_token: 'a', token_type: 'Bearer', expires_in: 60, refresh_token: 'r' })
  })

  test('an OAuth error: OAuthResponseError with the wire fields and a readable Response', async () => {
    const err = (await processTokenResponse(
      Response.json({ error: 'invalid_grant', error_description: 'session has been revoked', error_reason: 'revoked' }, { status: 400 }),
    ).catch((e: unknown) => e)) as OAuthResponseError
    expect(err).toBeInstanceOf(OAuthResponseError)
    expect(err).toMatchObject({ code: 'OAUTH_RESPONSE_ERROR', error: 'invalid_grant', error_description: 'session has been revoked', error_reason: 'revoked', status: 400 })
    expect(await err.response.json()).toMatchObject({ error: 'invalid_grant' })
  })

  test.each([
    ['500 OAuth server_error', Response.json({ error: 'server_error' }, { status: 500 }), 'PROVIDER_UNAVAILABLE'],
    ['502 html', new Response('<html>', { status: 502 }), 'PROVIDER_UNAVAILABLE'],
    ['429', Response.json({ error: 'slow_down' }, { status: 429 }), 'PROVIDER_UNAVAILABLE'],
    ['400 temporarily_unavailable', Response.json({ error: 'temporarily_unavailable' }, { status: 400 }), 'PROVIDER_UNAVAILABLE'],
    ['404 html', new Response('<html>', { status: 404 }), 'PROVIDER_INVALID_RESPONSE'],
    ['200 html', new Response('<html>', { status: 200 }), 'PROVIDER_INVALID_RESPONSE'],
    ['200 without expires_in', Response.json({ access_token: 'a', token_type: 'Bearer' }), 'PROVIDER_INVALID_RESPONSE'],
    ['200 with a DPoP token', Response.json({ access_token: 'a', token_type: 'DPoP', expires_in: 5 }), 'PROVIDER_INVALID_RESPONSE'],
  ])('%s: ProviderError %s', async (_name, response, code) => {
    const err = await processTokenResponse(response).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProviderError)
    expect(err).toMatchObject({ code })
  })
})

describe('revocation', () => {
  test('token, hint and client id in the form; 200 is success', async () => {
    const { fetch, requests } = recorder(() => new Response(null, { status: 200 }))
    await processRevocationResponse(await revocationRequest(AS, 'cid', 'egr_x', { fetch, tokenTypeHint: 'refresh_token' }))
    expect(Object.fromEntries(new URLSearchParams(await requests[0]!.text()))).toEqual({ token: 'egr_x', client_id: 'cid', token_type_hint: 'refresh_token' })
  })

  test('no revocation_endpoint: ProviderError', async () => {
    await expect(revocationRequest({ issuer: 'https://as.test', token_endpoint: 'x' }, 'cid', 't')).rejects.toMatchObject({ code: 'PROVIDER_INVALID_RESPONSE' })
  })
})

describe('discover', () => {
  const metadata = { issuer: 'https://as.test', token_endpoint: 'https://as.test/token' }

  test('fetches the well-known document once per issuer and fetch', async () => {
    const { fetch, requests } = recorder(() => Response.json(metadata))
    const [a, b] = await Promise.all([discover('https://as.test', fetch), discover('https://as.test', fetch)])
    expect(await discover('https://as.test', fetch)).toBe(a)
    expect(b).toBe(a)
    expect(requests.map((r) => r.url)).toEqual(['https://as.test/.well-known/openid-configuration'])
  })

  test('a failure is not cached', async () => {
    let n = 0
    const fetch: typeof globalThis.fetch = async () => (n++ === 0 ? new Response('down', { status: 503 }) : Response.json(metadata))
    await expect(discover('https://as.test', fetch)).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' })
    expect(await discover('https://as.test', fetch)).toMatchObject(metadata)
  })

  test('metadata naming another issuer is refused (RFC 8414 §3.3)', async () => {
    const { fetch } = recorder(() => Response.json({ ...metadata, issuer: 'https://evil.test' }))
    await expect(discover('https://as.test', fetch)).rejects.toMatchObject({ code: 'PROVIDER_INVALID_RESPONSE' })
  })
})
