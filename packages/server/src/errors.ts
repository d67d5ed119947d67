/**
 * Stable codes of the server's own errors (not the OAuth wire codes, which are core's
 * `OAuthErrorCode`). Callers and tests switch on these; renaming one is a breaking change.
 */
export type ServerErrorCode =
  | 'STARTUP_FAILED'
  | 'INVALID_SETTINGS'
  | 'LIMIT_BACKEND_UNAVAILABLE'
  | 'KEY_NOT_FOUND'
  | 'KEY_IS_ONLY_SIGNER'
  | 'KEY_DECRYPTION_FAILED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'STORE_CONFLICT'
  | 'INVALID_CURSOR'

/**
 * The base of every error the server throws on purpose, with a `code` from
 * {@link ServerErrorCode}, as core's `OAuthError` carries an `OAuthErrorCode`.
 *
 * @example if (err instanceof ServerError && err.code === 'KEY_NOT_FOUND') …
 */
export class ServerError<C extends ServerErrorCode = ServerErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'ServerError'
  }
}
