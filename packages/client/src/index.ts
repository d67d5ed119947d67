// The client SDK (issue 4) lands here: session store, getValidToken, refresh lock, login helpers.
// Until then it re-exports the wire formats a client needs.
export { decodeCredential, isWellFormedRefreshToken, type LoginCredential, type TokenResponse } from '@evergreen/core'
