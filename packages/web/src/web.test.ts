import { describe, expect, test } from 'vitest'
import { APP, browserFor, createWebFixture, signIn } from './test-support/fixture.js'

describe('sign-in and the valid-cookie path', () => {
  test('login → callback sets a session; /api/me serves it', async () => {
    const f = await createWebFixture()
    const b = browserFor(f)
    const cb = await signIn(f, b)
    expect(cb.status).toBe(303)
    expect(cb.headers.get('location')).toBe('/dashboard')
    const names = [...b.jar(APP).keys()]
    expect(names.some((n) => /^evergreen\.at\.\d+$/.test(n))).toBe(true)
    expect(names.some((n) => /^evergreen\.rt\.\d+$/.test(n))).toBe(true)
    expect(names.some((n) => n.includes('.tx.'))).toBe(false)
    const me = await b.send(`${APP}/api/me`)
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ email: f.email })
  })
})
