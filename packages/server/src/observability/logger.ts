import { pino, type Logger, type DestinationStream } from 'pino'

/**
 * Paths pino censors wherever they appear. Belt and braces: handlers never log bodies or headers
 * wholesale, but an `err` with a request attached, or a careless `{ req }`, must still not leak a
 * token, secret, password, cookie or Authorization value.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["evergreen-refresh-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["evergreen-refresh-token"]',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
  '*.id_token',
  '*.code_verifier',
  '*.device_code',
  '*.subject_token',
  '*.actor_token',
  '*.token',
  '*.secret',
  '*.admin_key',
  'password',
  'client_secret',
  'refresh_token',
  'access_token',
  'token',
  'secret',
  'body',
  '*.body',
]

/** The service logger: JSON lines, redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'evergreen' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  )
}
