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
  | 'CLIENT_DOCUMENT_REFUSED'

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

/**
 * Why a Client ID Metadata Document was refused (docs/architecture.md "Client registration"):
 * where it was, how it was served, or what it said. Logged and tested on; the browser sees only
 * that the application could not be verified.
 */
export const CLIENT_DOCUMENT_FAILURES = [
  'not_https', 'host_not_allowed', 'private_address', 'unresolvable', 'timeout', 'too_large', 'redirect', 'http_status', 'network',
  'not_json', 'invalid_metadata', 'client_id_mismatch', 'disabled', 'rate_limited',
] as const

/** One of {@link CLIENT_DOCUMENT_FAILURES}. */
export type ClientDocumentFailure = (typeof CLIENT_DOCUMENT_FAILURES)[number]

/**
 * A Client ID Metadata Document that could not be fetched or was not acceptable. `reason` is
 * stable; the message is for logs and never holds the document's content.
 *
 * @example if (err instanceof ClientDocumentError && err.reason === 'private_address') …
 */
export class ClientDocumentError extends ServerError<'CLIENT_DOCUMENT_REFUSED'> {
  constructor(
    readonly reason: ClientDocumentFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('CLIENT_DOCUMENT_REFUSED', message, options)
    this.name = 'ClientDocumentError'
  }
}
