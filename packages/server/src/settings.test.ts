import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { loadSettings, SETTINGS, SettingsError } from './settings.js'

describe('settings', () => {
  test('defaults match the README: port 8787, 900 s access, 24 h refresh, 30 s grace', () => {
    const s = loadSettings({}, {})
    expect(s).toMatchObject({ port: 8787, host: '127.0.0.1', issuer: 'http://127.0.0.1:8787', accessTokenTtl: 900, refreshTokenTtl: 86_400, refreshGraceSeconds: 30, signingAlg: 'ES256' })
  })

  test('plain PORT and DATABASE_URL are honoured; EVERGREEN_ names win; flags win over both', () => {
    expect(loadSettings({}, { PORT: '9000' }).port).toBe(9000)
    expect(loadSettings({}, { PORT: '9000', EVERGREEN_PORT: '9001' }).port).toBe(9001)
    expect(loadSettings({ port: '9002' }, { EVERGREEN_PORT: '9001' }).port).toBe(9002)
    const pg = loadSettings({}, { DATABASE_URL: 'postgres://db/evergreen', EVERGREEN_SECRET: 'x'.repeat(32) })
    expect(pg.databaseUrl).toBe('postgres://db/evergreen')
  })

  test('every problem is reported at once, naming the variable', () => {
    let error: unknown
    try {
      loadSettings({}, { EVERGREEN_ACCESS_TOKEN_TTL: 'abc', EVERGREEN_REFRESH_GRACE_SECONDS: '-1', EVERGREEN_SIGNING_ALG: 'HS256', EVERGREEN_DATABASE_URL: 'postgres://x/y' })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(SettingsError)
    const problems = (error as SettingsError).problems.join('\n')
    expect(problems).toMatch(/EVERGREEN_ACCESS_TOKEN_TTL="abc"/)
    expect(problems).toMatch(/EVERGREEN_REFRESH_GRACE_SECONDS/)
    expect(problems).toMatch(/EVERGREEN_SIGNING_ALG/)
    expect(problems).toMatch(/EVERGREEN_SECRET is required with PostgreSQL/)
  })

  test('a refresh TTL above 90 days is refused at start', () => {
    expect(() => loadSettings({}, { EVERGREEN_REFRESH_TOKEN_TTL: '7776001' })).toThrow(SettingsError)
  })

  test('client registration is safe by default: documents on, private addresses off, dynamic registration off', () => {
    expect(loadSettings({}, {})).toMatchObject({
      clientMetadataDocuments: true, clientMetadataAllowPrivate: false, clientMetadataAllowedHosts: [], clientMetadataCacheMaxSeconds: 3600,
      dynamicRegistration: false, registrationToken: undefined, rateLimitRegistration: 10, registeredClientTtl: 2_592_000,
    })
    expect(loadSettings({}, { EVERGREEN_CLIENT_METADATA_ALLOWED_HOSTS: 'App.Example.com, mcp.example' }).clientMetadataAllowedHosts).toEqual(['app.example.com', 'mcp.example'])
  })

  test('a short initial access token, or one without dynamic registration, is refused', () => {
    expect(() => loadSettings({}, { EVERGREEN_DYNAMIC_REGISTRATION: 'true', EVERGREEN_REGISTRATION_TOKEN: 'short' })).toThrow(/at least 16 characters/)
    expect(() => loadSettings({}, { EVERGREEN_REGISTRATION_TOKEN: 'x'.repeat(16) })).toThrow(/only applies with EVERGREEN_DYNAMIC_REGISTRATION/)
    expect(() => loadSettings({}, { EVERGREEN_CLIENT_METADATA_ALLOWED_HOSTS: 'https://app.example/' })).toThrow(/expected host names/)
    expect(() => loadSettings({}, { EVERGREEN_CLIENT_METADATA_CACHE_MAX_SECONDS: '10' })).toThrow(SettingsError)
  })

  test('README documents every setting', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
    for (const spec of SETTINGS) {
      for (const name of spec.env) expect(readme, name).toContain(`\`${name}\``)
      expect(readme, spec.flag).toContain(`\`${spec.flag}\``)
    }
  })
})
