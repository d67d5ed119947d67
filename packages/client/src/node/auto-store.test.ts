import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openDefaultStore, probeKeyring } from './auto-store.js'
import { createKeyringStore } from './keyring-store.js'

const KEY = { issuer: 'https://auth.example.com', profile: 'default' }

function env(extra: Record<string, string | undefined> = {}) {
  return { HOME: process.env.HOME, PATH: process.env.PATH, EVERGREEN_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'evergreen-auto-')), ...extra }
}

describe('openDefaultStore', () => {
  test('Linux without a D-Bus session: the file store at once, and it says why', async () => {
    const e = env()
    const started = performance.now()
    const chosen = await openDefaultStore({ env: e, platform: 'linux', probe: () => Promise.reject(new Error('must not probe')) })
    expect(performance.now() - started).toBeLessThan(100)
    expect(chosen.description).toMatchObject({ backend: 'file', location: join(e.EVERGREEN_CONFIG_DIR, 'sessions') })
    expect(chosen.description.reason).toContain('DBUS_SESSION_BUS_ADDRESS is unset')
    expect(chosen.configDir).toBe(e.EVERGREEN_CONFIG_DIR)
  })

  test('a keyring that fails the probe: file store, with the keyring\'s error as the reason — fast', async () => {
    const started = performance.now()
    const chosen = await openDefaultStore({ env: env({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }), platform: 'linux' })
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(chosen.description.backend).toBe('file')
    expect(chosen.description.reason).toMatch(/^OS keyring unavailable: .+/)
  })

  test('a keyring that hangs is abandoned after the probe timeout', async () => {
    const started = performance.now()
    const result = await probeKeyring({ timeoutMs: 300, source: 'setInterval(() => {}, 1000)' })
    expect(result).toEqual({ ok: false, reason: 'the keyring did not answer within 300 ms' })
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('a keyring that answers is chosen', async () => {
    const chosen = await openDefaultStore({ env: env({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/bus' }), platform: 'linux', probe: async () => ({ ok: true }) })
    expect(chosen.description).toMatchObject({ backend: 'keyring', reason: 'the OS keyring answered' })
  })

  test('EVERGREEN_STORE decides outright', async () => {
    expect((await openDefaultStore({ env: env({ EVERGREEN_STORE: 'file', DBUS_SESSION_BUS_ADDRESS: 'x' }) })).description).toMatchObject({
      backend: 'file',
      reason: 'EVERGREEN_STORE=file',
    })
    expect((await openDefaultStore({ env: env({ EVERGREEN_STORE: 'keyring' }) })).description.backend).toBe('keyring')
    expect((await openDefaultStore({ env: env({ EVERGREEN_STORE: 'memory' }) })).description.backend).toBe('memory')
    await expect(openDefaultStore({ env: env({ EVERGREEN_STORE: 'vault' }) })).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })
})

describe.skipIf(process.platform !== 'linux' || Boolean(process.env.DBUS_SESSION_BUS_ADDRESS))('keyring store on a machine without a keyring', () => {
  test('every call is a StorageError STORAGE_UNAVAILABLE, quickly — never a crash, never "not logged in"', async () => {
    const store = createKeyringStore({ timeoutMs: 2_000 })
    const started = performance.now()
    for (const op of [() => store.read(KEY), () => store.delete(KEY), () => store.list()]) {
      await expect(op()).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE' })
    }
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(store.describe()).toEqual({ backend: 'keyring', location: 'Secret Service (service "evergreen")' })
  })
})
