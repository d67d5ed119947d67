import type { ResourceError, ResourceErrorCode } from './errors.js'

/** What a challenge needs to know about the resource. */
export interface ChallengeContext {
  /** The absolute URL of the protected resource metadata (RFC 9728 §5.1). */
  resourceMetadataUrl: string
  /** DPoP algorithms accepted, or undefined when the resource takes Bearer tokens only. */
  dpopAlgs: readonly string[] | undefined
  /** The scopes the refused route needs, offered to the client in `scope` (RFC 6750 §3). */
  scopes: readonly string[]
}

const WIRE: Record<ResourceErrorCode, { status: number; error: string | undefined }> = {
  // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
  MISSING_TOKEN: { status: 401, error: undefined },
  INVALID_REQUEST: { status: 400, error: 'invalid_request' },
  INVALID_TOKEN: { status: 401, error: 'invalid_token' },
  INVALID_DPOP_PROOF: { status: 401, error: 'invalid_dpop_proof' },
  INSUFFICIENT_SCOPE: { status: 403, error: 'insufficient_scope' },
  ISSUER_UNAVAILABLE: { status: 503, error: 'temporarily_unavailable' },
  REPLAY_CACHE_FULL: { status: 503, error: 'temporarily_unavailable' },
}

/**
 * The answer to a refused request: status, `WWW-Authenticate` and an OAuth error body.
 *
 * The Bearer challenge always comes first and always carries `resource_metadata`: that is where
 * an MCP client starts discovery (MCP authorization, RFC 9728 §5.1), and clients read the first
 * challenge. When the resource accepts DPoP a `DPoP` challenge follows with `algs` (RFC 9449
 * §7.1); an error about a DPoP request (its proof, or its token) is named on that challenge.
 *
 * @example refusal(new ResourceError('MISSING_TOKEN', 'no access token'), { resourceMetadataUrl, dpopAlgs: undefined, scopes: [] }, 'Bearer')
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function refusal(err: ResourceError, ctx: ChallengeContext, scheme: 'Bearer' | 'DPoP' | undefined): Response {
  const { status, error } = WIRE[err.code]
  const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' })
  if (status === 503) {
    headers.set('retry-after', '5')
  } else {
    const params: [string, string][] = error ? [['error', error], ['error_description', err.description]] : []
    if (ctx.scopes.length > 0 && (err.code === 'MISSING_TOKEN' || err.code === 'INSUFFICIENT_SCOPE')) params.push(['scope', ctx.scopes.join(' ')])
    const onDpop = scheme === 'DPoP' && ctx.dpopAlgs !== undefined
    const bearer: [string, string][] = [['resource_metadata', ctx.resourceMetadataUrl], ...(onDpop ? [] : params)]
    const challenges = [challenge('Bearer', bearer)]
    if (ctx.dpopAlgs !== undefined) {
      challenges.push(challenge('DPoP', [['algs', ctx.dpopAlgs.join(' ')], ['resource_metadata', ctx.resourceMetadataUrl], ...(onDpop ? params : [])]))
    }
    headers.set('www-authenticate', challenges.join(', '))
  }
  const body = error ? { error, error_description: err.description } : { error_description: err.description }
  return new Response(JSON.stringify(body), { status, headers })
}

function challenge(scheme: string, params: [string, string][]): string {
  return `${scheme} ${params.map(([k, v]) => `${k}="${quotable(v)}"`).join(', ')}`
}

// RFC 6750 §3: error_description and scope are %x20-21 / %x23-5B / %x5D-7E — no quote, no
// backslash, nothing outside printable ASCII.
function quotable(value: string): string {
  return value.replace(/[^\x20-\x7e]|["\\]/g, "'")
}
