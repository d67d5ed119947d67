import { isWellFormedRefreshToken } from '@evergreen/core'
import { randomBytes } from 'node:crypto'
import { expect, test } from 'vitest'
import { expandKey, seal } from '../crypto/aead.js'
import { hashSecret } from '../crypto/hash.js'
import { createRandom } from '../crypto/random.js'
import { deriveSuccessor, recoverSuccessor } from './successor.js'

// docs/architecture.md "Refresh rotation", rule 5: a replay within the grace window gets the same
// successor back; the stored value alone gives nobody a token.

const random = createRandom()

test('a derived successor is a well-formed refresh token, recovered with the spent token and nothing else', () => {
  const spent = random.refreshToken()
  const { token, stored } = deriveSuccessor(spent, random)
  expect(isWellFormedRefreshToken(token)).toBe(true)
  expect(token).not.toBe(spent)
  expect(recoverSuccessor(spent, hashSecret(spent), stored)).toBe(token)
  // Another token (had it been looked up by this row) derives something else entirely.
  const other = random.refreshToken()
  expect(recoverSuccessor(other, hashSecret(spent), stored)).not.toBe(token)
  // What the row keeps names neither token.
  expect(stored).not.toContain(token.slice(4, 20))
  expect(stored).not.toContain(spent.slice(4, 20))
})

test('each rotation of the same token with a fresh salt derives a different successor', () => {
  const spent = random.refreshToken()
  const a = deriveSuccessor(spent, random)
  const b = deriveSuccessor(spent, random)
  expect(a.token).not.toBe(b.token)
  expect(a.stored).not.toBe(b.stored)
})

test('a successor sealed before derivation (AES-256-GCM under the spent token) still opens, and only with that token', () => {
  const spent = random.refreshToken()
  const successor = random.refreshToken()
  const sealed = seal(expandKey(spent, 'evergreen/refresh-successor/v1'), successor, hashSecret(spent))
  expect(recoverSuccessor(spent, hashSecret(spent), sealed)).toBe(successor)
  expect(recoverSuccessor(random.refreshToken(), hashSecret(spent), sealed)).toBeUndefined()
  expect(recoverSuccessor(spent, hashSecret(`${spent}x`), sealed)).toBeUndefined()
  expect(recoverSuccessor(spent, hashSecret(spent), randomBytes(40).toString('base64url'))).toBeUndefined()
})
