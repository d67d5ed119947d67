import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { createService } from '../node/bootstrap.js'
import { startMaintenance } from '../node/maintenance.js'
import { loadSettings } from '../settings.js'
import { SqliteStore } from '../store/sqlite.js'
import { createClock, createTestService, json, mint, seedUserAndClient, type TestService } from '../test-support/harness.js'

// Regression: after an emergency rotation the compromised key stayed in the JWKS, and its tokens
// kept verifying, for up to a day. `keys revoke` drops it at once.

interface Jwks {
  keys: { kid: string }[]
}

let svc: TestService
afterEach(async () => {
  await svc?.close()
})

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}
const kids = async () => (await json<Jwks>(await svc.fetch('/.well-known/jwks.json'))).keys.map((k) => k.kid)

describe('revoking a signing key', () => {
  test('drops it from the JWKS at once; its tokens fail introspection, userinfo and local verification', async () => {
    svc = await createTestService()
    const rs = await json<{ client_id: string; client_secret: string }>(
      await svc.admin('POST', '/clients', { name: 'rs', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' }),
      201,
    )
    const { userId, clientId } = await seedUserAndClient(svc)
    const [compromised] = await kids()
    const issued = await mint(svc, userId, clientId, { scope: 'openid' })

    // The key signing now cannot go before another one signs.
    const refused = await svc.admin('POST', `/keys/${compromised}/revoke`)
    expect(refused.status).toBe(409)
    expect(await kids()).toEqual([compromised])

    const fresh = await json<{ kid: string }>(await svc.admin('POST', '/keys/rotate', { activate_after: 0 }), 201)
    const revoked = await json<{ kid: string; status: string }>(await svc.admin('POST', `/keys/${compromised}/revoke`))
    expect(revoked).toMatchObject({ kid: compromised, status: 'revoked' })
    expect(await kids()).toEqual([fresh.kid])

    const introspected = await json(await svc.form('/oauth/introspect', { token: issued.access_token, client_id: rs.client_id, client_secret: rs.client_secret }))
    expect(introspected).toEqual({ active: false })
    expect((await svc.fetch('/userinfo', { headers: { authorization: `Bearer ${issued.access_token}` } })).status).toBe(401)
    await expect(svc.deps.keys.verify(issued.access_token, { issuer: 'http://evergreen.test', typ: 'at+jwt' })).rejects.toThrow()

    const audit = await json<{ items: { data: { kid: string } }[] }>(await svc.admin('GET', '/audit?type=key.revoked'))
    expect(audit.items.map((e) => e.data.kid)).toEqual([compromised])
    expect((await svc.admin('POST', '/keys/nope/revoke')).status).toBe(404)
  })

  test('another node drops the revoked key at its next reload, within 10 seconds by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evergreen-keys-'))
    const file = join(dir, 'shared.db')
    const clock = createClock()
    svc = await createTestService({ store: new SqliteStore(file), clock })
    const settings = loadSettings({}, {
      EVERGREEN_DATA_DIR: dir, EVERGREEN_ISSUER: 'http://evergreen.test', EVERGREEN_ADMIN_KEY: 'ega_test-admin-key-0123456789',
      EVERGREEN_SECRET: 'test-secret-0123456789-0123456789-abcdef', EVERGREEN_LOG_LEVEL: 'silent',
    })
    const other = await createService(settings, { store: new SqliteStore(file), now: clock.now, logger: pino({ level: 'silent' }) })
    try {
      const [compromised] = await kids()
      await json(await svc.admin('POST', '/keys/rotate', { activate_after: 0 }), 201)
      await json(await svc.admin('POST', `/keys/${compromised}/revoke`))
      expect(other.deps.keys.jwks().keys.map((k) => k.kid)).toContain(compromised)
      // Only the maintenance interval is faked: the reload itself runs for real.
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      const stop = startMaintenance(other.deps)
      try {
        vi.advanceTimersByTime(9_999)
        await settle()
        expect(other.deps.keys.jwks().keys.map((k) => k.kid)).toContain(compromised)
        vi.advanceTimersByTime(1)
        await settle()
      } finally {
        stop()
        vi.useRealTimers()
      }
      expect(other.deps.keys.jwks().keys.map((k) => k.kid)).not.toContain(compromised)
    } finally {
      await other.close()
    }
  })
})
