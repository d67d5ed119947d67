/**
 * Every error `@evergreen/web` throws on purpose carries a stable `code` from this union, so a
 * caller can switch on it (jose's `JOSEErrorCode`). Renaming a code is a breaking change.
 */
export type WebErrorCode = 'WEB_CONFIG_INVALID'

/**
 * What is wrong with one configuration option. `option` names the option as it is spelled in
 * {@link EvergreenWebOptions}; `code` is stable, `message` is for people.
 */
export type ConfigProblemCode =
  | 'REQUIRED'
  | 'INVALID_URL'
  | 'INSECURE_URL'
  | 'INVALID_PATH'
  | 'SECRET_TOO_SHORT'
  | 'SECRET_WEAK'
  | 'INVALID_VALUE'

/** One problem found while validating the configuration. */
export interface ConfigProblem {
  option: string
  code: ConfigProblemCode
  message: string
}

/**
 * Base class of the package's errors. Messages never contain a token, a secret or a cookie value.
 */
export class EvergreenWebError extends Error {
  readonly code: WebErrorCode
  constructor(code: WebErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EvergreenWebError'
    this.code = code
  }
}

/**
 * Thrown by {@link createEvergreenWeb} when the options are invalid. Lists every problem at once,
 * so an operator fixes the configuration in one go rather than one restart per mistake.
 *
 * @example
 * try { createEvergreenWeb(options) } catch (e) {
 *   if (e instanceof WebConfigError) for (const p of e.problems) console.error(`${p.option}: ${p.message}`)
 * }
 */
export class WebConfigError extends EvergreenWebError {
  readonly problems: readonly ConfigProblem[]
  constructor(problems: readonly ConfigProblem[]) {
    super('WEB_CONFIG_INVALID', `invalid @evergreen/web configuration:\n${problems.map((p) => `  - ${p.option}: ${p.message}`).join('\n')}`)
    this.name = 'WebConfigError'
    this.problems = problems
  }
}
