import { decodeCredential } from '@evergreen/core'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { createTestService, json, mint, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'

let svc: TestService
beforeEach(async () => {
  svc = await createTestService()
})
afterEach(async () => {
  await svc?.close()
})

describe('admin API', () => {
  test('refuses a missing or wrong admin key with 401', async () => {
    expect((await svc.fetch('/admin/v1/users')).status).toBe(401)
    const res = await svc.fetch('/admin/v1/users', { headers: { authorization: 'Bearer ega_wrong' } })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'invalid_token' })
  })

  test('users: create, get by id or email, list with a cursor, duplicate email is 409, never a password hash', async () => {
    const created = await json<Record<string, unknown>>(await svc.admin('POST', '/users', { email: 'Ada@Example.com', password: 'correct horse', name: 'Ada' }), 201)
    expect(created).toMatchObject({ email: 'Ada@Example.com', name: 'Ada', has_password: true })
    expect(JSON.stringify(created)).not.toMatch(/argon2|password_hash/)
    expect(await json(await svc.admin('GET', '/users/ada@example.com'))).toMatchObject({ id: created.id })
    expect((await svc.admin('POST', '/users', { email: 'ada@example.com' })).status).toBe(409)
    for (let i = 0; i < 3; i++) await json(await svc.admin('POST', '/users', { email: `u${i}@example.com` }), 201)
    const page1 = await json<{ items: { email: string }[]; next_cursor: string }>(await svc.admin('GET', '/users?limit=3'))
    expect(page1.items).toHaveLength(3)
    const page2 = await json<{ items: { email: string }[]; next_cursor: string | null }>(await svc.admin('GET', `/users?limit=3&cursor=${page1.next_cursor}`))
    expect(page2.items.map((u) => u.email)).toEqual(['u2@example.com'])
    expect(page2.next_cursor).toBeNull()
  })

  test('disabling a user revokes their sessions', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    await json(await svc.admin('POST', `/users/${userId}/disable`))
    expect(await json(await refresh(svc, clientId, issued.refresh_token), 400)).toMatchObject({ error_reason: 'revoked' })
    expect((await svc.admin('POST', '/tokens', { user: userId, client_id: clientId })).status).toBe(400)
  })

  test('clients: the secret is shown once and stored only as a hash', async () => {
    const created = await json<Record<string, unknown>>(await svc.admin('POST', '/clients', { name: 'api', grant_types: ['client_credentials'] }), 201)
    expect(created.client_secret).toMatch(/^egs_/)
    expect(created.token_endpoint_auth_method).toBe('client_secret_basic')
    const fetched = await json<Record<string, unknown>>(await svc.admin('GET', `/clients/${created.client_id}`))
    expect(fetched.client_secret).toBeUndefined()
    expect(fetched.secret_hash).toBeUndefined()
    const stored = await svc.deps.store.getClient(created.client_id as string)
    expect(stored!.secret_hash).not.toContain(created.client_secret as string)
  })

  test('clients: update and delete; a deleted client is gone and its sessions revoked', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    const updated = await json<Record<string, unknown>>(await svc.admin('PATCH', `/clients/${clientId}`, { refresh_token_ttl: 3600, name: 'renamed' }))
    expect(updated).toMatchObject({ name: 'renamed', refresh_token_ttl: 3600 })
    expect((await svc.admin('DELETE', `/clients/${clientId}`)).status).toBe(204)
    expect((await svc.admin('GET', `/clients/${clientId}`)).status).toBe(404)
    expect(await json(await refresh(svc, clientId, issued.refresh_token), 401)).toMatchObject({ error: 'invalid_client' })
    const session = await json<{ revoked_reason: string }>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session.revoked_reason).toBe('client_deleted')
  })

  test('clients: invalid fields are 400s that name the field, and nothing is created', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ grant_types: ['refresh_token'] }, /name is required/],
      [{ name: 'x', grant_types: ['password'] }, /grant_types has unsupported value/],
      [{ name: 'x', token_endpoint_auth_method: 'client_secret_jwt' }, /token_endpoint_auth_method/],
      [{ name: 'x', token_endpoint_auth_method: 'private_key_jwt' }, /exactly one of jwks and jwks_uri/],
      [{ name: 'x', grant_types: ['authorization_code'], redirect_uris: ['http://evil.example/cb'] }, /https/],
      [{ name: 'x', grant_types: ['authorization_code'] }, /redirect_uri/],
      [{ name: 'x', refresh_token_ttl: 7_776_001 }, /refresh_token_ttl/],
      [{ name: 'x', refresh_token_ttl: 'long' }, /refresh_token_ttl/],
      [{ name: 'x', colour: 'green' }, /unknown field/],
    ]
    for (const [body, message] of cases) {
      const res = await svc.admin('POST', '/clients', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((await res.json()).error_description).toMatch(message)
    }
    // Only the built-in CLI client exists.
    const clients = await json<{ items: { client_id: string }[] }>(await svc.admin('GET', '/clients'))
    expect(clients.items.map((c) => c.client_id)).toEqual(['evergreen-cli'])
  })

  test('clients: logout registration defaults, create, get, list, update and clear', async () => {
    const plain = await json<Record<string, unknown>>(await svc.admin('POST', '/clients', { name: 'plain', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' }), 201)
    expect(plain).toMatchObject({ post_logout_redirect_uris: [], backchannel_logout_uri: null })
    const created = await json<{ client_id: string }>(await svc.admin('POST', '/clients', {
      name: 'dash',
      grant_types: ['refresh_token'],
      token_endpoint_auth_method: 'none',
      post_logout_redirect_uris: ['https://dash.example/bye?x=1', 'http://127.0.0.1:3000/bye'],
      backchannel_logout_uri: 'https://dash.example/backchannel',
    }), 201)
    const expected = { post_logout_redirect_uris: ['https://dash.example/bye?x=1', 'http://127.0.0.1:3000/bye'], backchannel_logout_uri: 'https://dash.example/backchannel' }
    expect(created).toMatchObject(expected)
    expect(await json(await svc.admin('GET', `/clients/${created.client_id}`))).toMatchObject(expected)
    const list = await json<{ items: Record<string, unknown>[] }>(await svc.admin('GET', '/clients'))
    expect(list.items.find((c) => c.client_id === created.client_id)).toMatchObject(expected)
    const updated = await json(await svc.admin('PATCH', `/clients/${created.client_id}`, { post_logout_redirect_uris: ['https://dash.example/out'], backchannel_logout_uri: null }))
    expect(updated).toMatchObject({ post_logout_redirect_uris: ['https://dash.example/out'], backchannel_logout_uri: null })
    expect(await json(await svc.admin('PATCH', `/clients/${created.client_id}`, { backchannel_logout_uri: 'http://localhost:4000/bc' }))).toMatchObject({
      backchannel_logout_uri: 'http://localhost:4000/bc',
      post_logout_redirect_uris: ['https://dash.example/out'],
    })
  })

  test('clients: logout URIs must be absolute http(s) without a fragment, https unless loopback or an http issuer', async () => {
    const https = await createTestService({ env: { EVERGREEN_ISSUER: 'https://auth.example' } })
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ post_logout_redirect_uris: ['/relative'] }, /post_logout_redirect_uri .* is not an absolute URI/],
        [{ post_logout_redirect_uris: ['https://a.example/bye#top'] }, /fragment/],
        [{ post_logout_redirect_uris: ['http://a.example/bye'] }, /https/],
        [{ post_logout_redirect_uris: ['com.example.app:/bye'] }, /http\(s\)/],
        [{ post_logout_redirect_uris: 'https://a.example/bye' }, /array/],
        [{ backchannel_logout_uri: 'javascript:alert(1)' }, /http\(s\)/],
        [{ backchannel_logout_uri: 'http://a.example/bc' }, /backchannel_logout_uri must use https/],
        [{ backchannel_logout_uri: 'https://a.example/bc#x' }, /fragment/],
        [{ backchannel_logout_uri: 42 }, /backchannel_logout_uri/],
      ]
      for (const [fields, message] of cases) {
        const res = await https.admin('POST', '/clients', { name: 'x', grant_types: ['refresh_token'], ...fields })
        expect(res.status, JSON.stringify(fields)).toBe(400)
        expect((await res.json()).error_description).toMatch(message)
      }
      const ok = await https.admin('POST', '/clients', {
        name: 'loopback', grant_types: ['refresh_token'], post_logout_redirect_uris: ['http://127.0.0.1/bye', 'http://[::1]:8080/bye'], backchannel_logout_uri: 'http://localhost:9/bc',
      })
      expect(ok.status).toBe(201)
      // With an http issuer (a development setup), http logout URIs are fine anywhere.
      expect((await svc.admin('POST', '/clients', { name: 'dev', grant_types: ['refresh_token'], backchannel_logout_uri: 'http://dash.internal/bc' })).status).toBe(201)
    } finally {
      await https.close()
    }
  })

  test('tokens: mints an operator session with a credential envelope that names issuer and client', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId, { refresh_token_ttl: 7_776_000, name: 'ci-runner' })
    expect(issued.refresh_token_expires_in).toBe(7_776_000)
    const parsed = decodeCredential(issued.credential)
    expect(parsed).toEqual({ ok: true, value: { v: 1, iss: 'http://evergreen.test', client_id: clientId, refresh_token: issued.refresh_token, exp: svc.clock.now() + 7_776_000 } })
    const session = await json<Record<string, unknown>>(await svc.admin('GET', `/sessions/${issued.session_id}`))
    expect(session).toMatchObject({ kind: 'operator', name: 'ci-runner', refresh_ttl: 7_776_000, active: true, user_id: userId })
  })

  test('sessions: list by user and active, revoke', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const a = await mint(svc, userId, clientId)
    await mint(svc, userId, clientId)
    expect(await json(await svc.admin('DELETE', `/sessions/${a.session_id}`))).toEqual({ revoked: 1 })
    const all = await json<{ items: unknown[] }>(await svc.admin('GET', `/sessions?user=${userId}`))
    const active = await json<{ items: { id: string }[] }>(await svc.admin('GET', `/sessions?user=${userId}&active=true`))
    expect(all.items).toHaveLength(2)
    expect(active.items).toHaveLength(1)
    expect(active.items[0]!.id).not.toBe(a.session_id)
    expect((await svc.admin('GET', '/sessions/ses_nope')).status).toBe(404)
  })

  test('audit: filters by session, user and type; bad cursors are 400', async () => {
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    await svc.admin('DELETE', `/sessions/${issued.session_id}`)
    const bySession = await json<{ items: { type: string }[] }>(await svc.admin('GET', `/audit?session=${issued.session_id}`))
    expect(bySession.items.map((e) => e.type)).toEqual(['session.created', 'session.revoked'])
    const byType = await json<{ items: { type: string }[] }>(await svc.admin('GET', `/audit?user=${userId}&type=session.revoked`))
    expect(byType.items).toHaveLength(1)
    expect((await svc.admin('GET', '/audit?cursor=bm9wZQ')).status).toBe(400)
    expect((await svc.admin('GET', '/audit?limit=0')).status).toBe(400)
  })
})

describe('admin key limit', () => {
  test('a throttled address gets 429 for the right key too, so it cannot learn which guess was right', async () => {
    await svc.close()
    svc = await createTestService({ env: { EVERGREEN_RATE_LIMIT_ADMIN: '3' } })
    const wrong = () => svc.fetch('/admin/v1/users', { headers: { authorization: 'Bearer ega_wrong-guess' } })
    for (let i = 0; i < 3; i++) expect((await wrong()).status).toBe(401)
    expect((await wrong()).status).toBe(429)
    expect((await svc.admin('GET', '/users')).status).toBe(429)
  })

  test('concurrent wrong keys: only the budget gets a 401', async () => {
    await svc.close()
    svc = await createTestService({ env: { EVERGREEN_RATE_LIMIT_ADMIN: '5' } })
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => svc.fetch('/admin/v1/users', { headers: { authorization: 'Bearer ega_wrong-guess' } }).then((r) => r.status)),
    )
    expect(statuses.filter((s) => s === 401)).toHaveLength(5)
    expect(statuses.filter((s) => s === 429)).toHaveLength(15)
  })
})
