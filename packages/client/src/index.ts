// The runtime-agnostic SDK: Web APIs only. Node parts (file and keyring stores, the cross-process
// lock, the default store chooser) are in `@evergreen/client/node`.
export { createSessionClient, type SessionClient, type SessionClientOptions, type SessionStatus, type LogoutResult } from './client.js'
export { createAuthenticatedFetch, assertAuthorized, isReplayable, type AuthenticatedFetchOptions } from './authenticated-fetch.js'
export { parseLoginInput, type LoginInput } from './login-input.js'
export type { LoginResult, LoginWarning } from './credential-login.js'
export { resolveTarget, resolveSessionKey, type SessionTarget } from './target.js'
export { formatDebugEvent, type DebugEvent, type DebugHook, type RefreshReason } from './debug.js'
export {
  startDeviceLogin,
  deviceAuthorizationRequest,
  processDeviceAuthorizationResponse,
  deviceCodeGrantRequest,
  type DeviceLogin,
  type DeviceAuthorizationResponse,
  type StartDeviceLoginOptions,
  type Sleep,
} from './device-login.js'
export {
  EvergreenClientError,
  AuthError,
  ProviderError,
  StorageError,
  CredentialError,
  ConfigError,
  OAuthResponseError,
  DeviceLoginError,
  DelegationError,
  DpopError,
  isAuthError,
  type ErrorDetails,
  type Remedy,
  type AuthErrorReason,
  type AuthErrorCode,
  type ClientErrorCode,
  type ConfigErrorCode,
  type CredentialErrorCode,
  type DeviceLoginErrorCode,
  type DelegationErrorCode,
  type DpopErrorCode,
  type DeviceLoginErrorReason,
  type ProviderErrorCode,
  type StorageErrorCode,
} from './errors.js'
export { createInProcessLock } from './lock.js'
export { delegateSession, type DelegateOptions, type DelegatedCredential } from './delegate.js'
export {
  discover,
  defaultFetch,
  refreshTokenRequest,
  processTokenResponse,
  revocationRequest,
  processRevocationResponse,
  tokenExchangeRequest,
  processTokenExchangeResponse,
  type TokenExchangeParameters,
  type AuthorizationServer,
  type HttpOptions,
  type TokenRequestOptions,
} from './protocol.js'
export { createDpopHandle, newDpopKey, sendWithDpopNonceRetry, isDpopNonceChallenge, type DpopHandle, type DpopHandleOptions, type DpopMode, type DpopNonces } from './dpop.js'
export {
  sessionFromTokenResponse,
  parseStoredSession,
  isRenewable,
  isDpopBound,
  type StoredSession,
  type SessionAccount,
  type DpopKeyRecord,
} from './session.js'
export { createMemoryStore } from './store/memory.js'
export { loginWithTokenResponse, type LoginWithTokenResponseOptions } from './token-response-login.js'
export { DEFAULT_PROFILE, normalizeKey, keyId, type SessionKey, type SessionStore, type SessionLock, type StoreDescription } from './store/types.js'
export { decodeCredential, isWellFormedRefreshToken, type LoginCredential, type TokenResponse } from '@evergreen/core'
