import { expandKey, open, seal } from '../crypto/aead.js'

// docs/architecture.md "Refresh rotation" (rule 5, idempotent grace): the successor of a spent token is kept so a retry can get the
// identical token back, but sealed under a key derived from the spent token itself. The store
// only ever holds the spent token's hash, so a database dump cannot open any successor.

const INFO = 'evergreen/refresh-successor/v1'

/** Seals `successor` so only a holder of `spentToken` can open it; bound to the spent hash. */
export function sealSuccessor(spentToken: string, spentHash: string, successor: string): string {
  return seal(expandKey(spentToken, INFO), successor, spentHash)
}

/** Opens a sealed successor with the presented token; undefined if it is not the right token. */
export function openSuccessor(presentedToken: string, spentHash: string, sealed: string): string | undefined {
  return open(expandKey(presentedToken, INFO), sealed, spentHash)
}
