import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, expect, test } from 'vitest'
import { loadSettings } from '../settings.js'
import { startServer, type RunningServer } from './serve.js'

// EVERGREEN_METRICS_PORT keeps /metrics off the public listener: a second listener serves it
// without a token, and the public one does not serve it at all.

let running: RunningServer | undefined
afterEach(async () => {
  await running?.stop()
  running = undefined
})

test('with EVERGREEN_METRICS_PORT, metrics are on their own listener and not on the public one', async () => {
  const settings = loadSettings({}, {
    EVERGREEN_PORT: '0',
    EVERGREEN_METRICS_PORT: '0',
    EVERGREEN_DATA_DIR: mkdtempSync(join(tmpdir(), 'evergreen-serve-')),
    EVERGREEN_ADMIN_KEY: 'ega_test-admin-key-0123456789',
    EVERGREEN_LOG_LEVEL: 'silent',
  })
  running = await startServer(settings, { logger: pino({ level: 'silent' }) })
  expect(running.metricsUrl).toBeDefined()
  expect(running.metricsUrl).not.toBe(running.url)
  expect((await fetch(`${running.url}/metrics`)).status).toBe(404)
  const scraped = await fetch(`${running.metricsUrl}/metrics`)
  expect(scraped.status).toBe(200)
  expect(await scraped.text()).toContain('evergreen_http_requests_total')
  // Only /metrics lives there: the token service is not reachable through the metrics port.
  expect((await fetch(`${running.metricsUrl}/.well-known/openid-configuration`)).status).toBe(404)
})
