import { describe, expect, test } from 'vitest'
import { createMemoryStore } from './store/memory.js'
import { resolveSessionKey, resolveTarget } from './target.js'

const session = (issuer: string) => ({ version: 1 as const, issuer, client_id: 'c', access_token: 'at', access_token_expires_at: 1, token_type: 'Bearer', obtained_at: 0 })

describe('resolveTarget: option, then environment, then default', () => {
  test('the option wins over the environment; a blank value counts as unset', () => {
    const env = { EVERGREEN_ISSUER: 'https://env.test', EVERGREEN_PROFILE: 'work' }
    expect(resolveTarget({ issuer: 'https://flag.test', profile: 'home' }, env)).toEqual({ issuer: 'https://flag.test', profile: 'home' })
    expect(resolveTarget({ issuer: ' ', profile: '' }, env)).toEqual({ issuer: 'https://env.test', profile: 'work' })
    expect(resolveTarget({}, { EVERGREEN_PROFILE: '  ' })).toEqual({ issuer: undefined, profile: 'default' })
  })
})

describe('resolveSessionKey: the stored issuer is the last resort', () => {
  test('an issuer given is used without asking the store', async () => {
    const store = { ...createMemoryStore(), list: () => Promise.reject(new Error('not asked')) }
    expect(await resolveSessionKey({ issuer: 'https://a.test/', profile: 'default' }, store)).toEqual({ issuer: 'https://a.test', profile: 'default' })
  })

  test('none stored → undefined; one → it; two → CONFIG_AMBIGUOUS_ISSUER with the issuers and remedy choose_issuer', async () => {
    const store = createMemoryStore()
    expect(await resolveSessionKey({ issuer: undefined, profile: 'default' }, store)).toBeUndefined()
    await store.write({ issuer: 'https://a.test', profile: 'default' }, session('https://a.test'))
    await store.write({ issuer: 'https://c.test', profile: 'other' }, session('https://c.test'))
    expect(await resolveSessionKey({ issuer: undefined, profile: 'default' }, store)).toEqual({ issuer: 'https://a.test', profile: 'default' })
    await store.write({ issuer: 'https://b.test', profile: 'default' }, session('https://b.test'))
    await expect(resolveSessionKey({ issuer: undefined, profile: 'default' }, store)).rejects.toMatchObject({
      code: 'CONFIG_AMBIGUOUS_ISSUER',
      remedy: 'choose_issuer',
      profile: 'default',
      issuers: expect.arrayContaining(['https://a.test', 'https://b.test']),
    })
  })
})
