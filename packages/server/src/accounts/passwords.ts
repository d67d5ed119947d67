import { hash, verify } from '@node-rs/argon2'

// argon2id with the library's defaults (19 MiB, t=2, p=1: OWASP's minimum recommendation).
// A dummy hash lets a login for an unknown account spend the same time as a real one.

let dummy: Promise<string> | undefined

/** Hashes a password to a PHC string (argon2id). */
export function hashPassword(password: string): Promise<string> {
  return hash(password)
}

/** Checks a password; with no stored hash it still does the work, so timing does not reveal accounts. */
export async function verifyPassword(password: string, phc: string | null): Promise<boolean> {
  if (phc === null) {
    dummy ??= hash('evergreen-dummy-password')
    await verify(await dummy, password).catch(() => false)
    return false
  }
  return verify(phc, password).catch(() => false)
}
