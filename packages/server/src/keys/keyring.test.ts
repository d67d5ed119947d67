import { decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, test } from 'vitest'
import { createService } from '../node/bootstrap.js'
import { loadSettings } from '../settings.js'
import { createTestService, json, mint, openTempSqlite, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'

interface Jwks {
  keys: { kid: string; alg: string; d?: string }[]
}

describe('signing keys', () => {
  let svc: TestService
  afterEach(async () => {
    await svc?.close()
  })

  test('a first start creates an ES256 key; tokens verify against the published JWKS', async () => {
    svc = await createTestService()
    const jwks = await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]!.alg).toBe('ES256')
    expect(jwks.keys[0]!.d).toBeUndefined()
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    expect(decodeProtectedHeader(issued.access_token)).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]!.kid, typ: 'at+jwt' })
    await expect(svc.deps.keys.verify(issued.access_token, { issuer: 'http://evergreen.test', typ: 'at+jwt' })).resolves.toBeTruthy()
  })

  test('RS256 is selectable', async () => {
    svc = await createTestService({ env: { EVERGREEN_SIGNING_ALG: 'RS256' } })
    const jwks = await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))
    expect(jwks.keys[0]!.alg).toBe('RS256')
  })

  test('rotation publishes the new key before signing with it and keeps the old one until its tokens expire', async () => {
    svc = await createTestService()
    const { userId, clientId } = await seedUserAndClient(svc)
    const oldKid = (await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))).keys[0]!.kid
    const rotated = await json<{ kid: string; status: string }>(await svc.admin('POST', '/keys/rotate', { activate_after: 600 }), 201)
    expect(rotated.status).toBe('published')

    // Published, not yet signing.
    const both = await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))
    expect(both.keys.map((k) => k.kid).sort()).toEqual([oldKid, rotated.kid].sort())
    const before = await mint(svc, userId, clientId)
    expect(decodeProtectedHeader(before.access_token).kid).toBe(oldKid)

    svc.clock.advance(600)
    const after = await json<{ access_token: string }>(await refresh(svc, clientId, before.refresh_token))
    expect(decodeProtectedHeader(after.access_token).kid).toBe(rotated.kid)
    // A token signed by the old key still verifies while it can be alive.
    const verified = await svc.deps.keys.verify(before.access_token, { issuer: 'http://evergreen.test', typ: 'at+jwt' })
    expect(verified.protectedHeader.kid).toBe(oldKid)
    const keys = await json<{ items: { kid: string; status: string }[] }>(await svc.admin('GET', '/keys'))
    expect(keys.items.find((k) => k.kid === oldKid)!.status).toBe('retired')

    // Gone from the JWKS once the longest access token it could have signed has expired.
    svc.clock.advance(86_400 + 61)
    await svc.deps.keys.reload()
    const last = await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))
    expect(last.keys.map((k) => k.kid)).toEqual([rotated.kid])
  })

  test('tokens signed by the retired key verify until the key leaves the JWKS', async () => {
    svc = await createTestService()
    const { userId, clientId } = await seedUserAndClient(svc)
    const issued = await mint(svc, userId, clientId)
    await json(await svc.admin('POST', '/keys/rotate', { activate_after: 0 }), 201)
    await expect(svc.deps.keys.verify(issued.access_token, { issuer: 'http://evergreen.test', typ: 'at+jwt' })).resolves.toBeTruthy()
  })

  test('private keys are sealed at rest and a different EVERGREEN_SECRET refuses to start', async () => {
    const store = await openTempSqlite()
    svc = await createTestService({ store })
    const [record] = await store.listSigningKeys()
    expect(record!.private_sealed).not.toMatch(/PRIVATE KEY/)
    expect(Buffer.from(record!.private_sealed, 'base64url').toString('latin1')).not.toMatch(/PRIVATE KEY/)
    const wrong = loadSettings({}, { EVERGREEN_SECRET: 'another-secret-another-secret-another', EVERGREEN_ADMIN_KEY: 'ega_0123456789abcdef', EVERGREEN_DATA_DIR: '/tmp' })
    await expect(createService(wrong, { store: await reopen(store) })).rejects.toThrow(/EVERGREEN_SECRET does not match/)
  })
})

// The same database file through a second connection, as a restarted process would open it.
async function reopen(store: import('../store/types.js').Store) {
  const { SqliteStore } = await import('../store/sqlite.js')
  const file = (store as unknown as { db: { name: string } }).db.name
  return new SqliteStore(file)
}
