// `@evergreen/client/session`: the session client alone, for start-up-sensitive callers
// (`evergreen token` runs in a script's `$(...)` on every call). The package's index loads every
// part of the SDK (device login, delegation, token-response login, …); this loads what a stored
// session's client needs. The same functions, not copies.
export { createSessionClient, type SessionClient, type SessionClientOptions, type SessionStatus } from './client.js'
export { resolveTarget, type SessionTarget } from './target.js'
export { DEFAULT_PROFILE } from './store/types.js'
