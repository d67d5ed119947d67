import { SignJWT, UnsecuredJWT } from 'jose'
import { expect, test } from 'vitest'
import { accountOf } from './session.js'

// accountOf reads an access token's sub and email for display, without jose's decoder (it is on
// `evergreen token`'s start-up path); it must read what jose would, and nothing that is not a JWS.
test('accountOf reads sub and email from a signed or unsecured JWT, UTF-8 included', async () => {
  const key = new TextEncoder().encode('k'.repeat(32))
  const signed = await new SignJWT({ email: 'zoë@example.com' }).setProtectedHeader({ alg: 'HS256' }).setSubject('usr_ü1').sign(key)
  expect(accountOf(signed)).toEqual({ sub: 'usr_ü1', email: 'zoë@example.com' })
  expect(accountOf(new UnsecuredJWT({}).setSubject('usr_2').encode())).toEqual({ sub: 'usr_2' })
})

test('accountOf is undefined for anything that is not a JWS with a string sub', () => {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  for (const token of [
    '',
    'opaque-token',
    `${b64({ alg: 'none' })}.${b64({ sub: 1 })}.`,
    `${b64({ alg: 'none' })}.${b64(['sub'])}.`,
    `${b64({ alg: 'none' })}.${b64('usr')}.`,
    `${b64({ alg: 'none' })}.not*base64.sig`,
    `${b64({ alg: 'none' })}.${Buffer.from('{').toString('base64url')}.sig`,
    `a.${b64({ sub: 'x' })}.c.d.e`,
  ]) expect(accountOf(token), token).toBeUndefined()
})
