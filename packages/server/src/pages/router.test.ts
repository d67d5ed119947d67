import { afterEach, expect, test } from 'vitest'
import { createTestService, openTempSqlite, type TestService } from '../test-support/harness.js'
import type { Store } from '../store/types.js'

// The pages sub-app has one error path: whatever a page throws becomes the error page (HTML,
// 500), never a raw body or OAuth JSON, and the internal message stays in the log.

let svc: TestService | undefined
afterEach(async () => {
  await svc?.close()
})

test('a page that fails renders the error page, without the internal message', async () => {
  const real = await openTempSqlite()
  let failing = false
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (failing && prop === 'getClient') return () => Promise.reject(new Error('database is on fire: SELECT secret_hash'))
      return Reflect.get(target, prop, receiver) as unknown
    },
  }) as Store
  svc = await createTestService({ store })
  failing = true
  const res = await svc.fetch('/authorize?client_id=cli_x&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&response_type=code')
  expect(res.status).toBe(500)
  expect(res.headers.get('content-type')).toMatch(/^text\/html/)
  const body = await res.text()
  expect(body).toContain('Something went wrong')
  expect(body).not.toContain('on fire')
})
