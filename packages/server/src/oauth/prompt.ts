/**
 * The `prompt` values the authorization endpoint implements (OIDC Core §3.1.2.1), as discovery
 * lists them. Here rather than beside the page that reads them, so discovery does not import a
 * page.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export const PROMPT_VALUES = ['none', 'login', 'consent'] as const
