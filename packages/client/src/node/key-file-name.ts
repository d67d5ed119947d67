import { createHash } from 'node:crypto'
import type { SessionKey } from '../store/types.js'

/**
 * `<sha256(issuer)[:16]>-<profile>`: a file name per session key. The issuer is hashed because a
 * URL is not a portable file name; 64 bits of hash keep two issuers apart on one machine.
 */
export function keyFileName(key: SessionKey): string {
  return `${createHash('sha256').update(key.issuer).digest('hex').slice(0, 16)}-${key.profile}`
}
