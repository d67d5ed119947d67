import { DPOP_DEFAULT_IAT_WINDOW_SECONDS, DPOP_SIGNING_ALGS, DpopProofError, verifyDpopProof, type DpopSigningAlg } from '@evergreen/core'
import { errors, jwtVerify, type JWTPayload } from 'jose'
import { refusal } from './challenge.js'
import { createCors, type CorsOptions } from './cors.js'
import { ResourceError } from './errors.js'
import { createIssuerKeys } from './issuer.js'
import { metadataResponse, metadataUrlFor, type ProtectedResourceMetadata } from './metadata.js'
import { createMemoryReplayCache, type ReplayCache } from './replay-cache.js'

/** Options of {@link createResourceServer}. */
export interface ResourceServerOptions {
  /**
   * This resource's identifier (RFC 8707): the public URL clients call, e.g.
   * `https://mcp.example/mcp`. Tokens must name it in `aud`; DPoP proofs must name its origin.
   */
  resource: string
  /** The Evergreen issuer (authorization server) whose tokens are accepted. */
  issuer: string
  /** Scopes every request must carry; a route can ask for more. */
  scopes?: readonly string[]
  /** `scopes_supported` in the metadata; defaults to `scopes`. */
  scopesSupported?: readonly string[]
  /** Accept DPoP-bound tokens (default true). `'required'`: refuse Bearer tokens altogether. */
  dpop?: boolean | 'required'
  /** DPoP proof algorithms accepted; defaults to core's `DPOP_SIGNING_ALGS`. */
  dpopAlgorithms?: readonly DpopSigningAlg[]
  /** `resource_name` in the metadata. */
  resourceName?: string
  /** `resource_documentation` in the metadata. */
  resourceDocumentation?: string
  /** Seconds of leeway on `exp`/`nbf` (default 5). */
  clockTolerance?: number
  /** Fewest seconds between JWKS fetches for an unknown `kid` (default 30). */
  jwksRefetchFloorSeconds?: number
  /** Where DPoP proof `jti`s are remembered; an in-memory per-process cache by default. */
  replayCache?: ReplayCache
  /**
   * CORS for the protected routes, for browser-based clients (MCP hosts such as the MCP
   * Inspector) on the listed origins. Off by default. The metadata document is public and always
   * readable from any origin, with or without this.
   */
  cors?: CorsOptions
  /** Epoch seconds; the real clock by default. */
  now?: () => number
  /** Used for the issuer's metadata and JWKS; the global fetch by default. */
  fetch?: typeof fetch
}

/** The verified access-token claims the app may rely on (RFC 9068 §2.2, RFC 8693 §4.1). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string
  sub: string
  exp: number
  iat: number
  client_id: string
  scope?: string
  sid?: string
  /** The actor when the token was delegated by token exchange. */
  act?: Record<string, unknown>
  /** RFC 9449 §6: the thumbprint of the key the token is bound to. */
  cnf?: { jkt?: string }
}

/** A request whose access token checked out. */
export interface VerifiedToken {
  /** The raw access token. The helper never forwards it anywhere; neither should the app. */
  token: string
  claims: AccessTokenClaims
  /** `claims.sub`. */
  subject: string
  /** `claims.client_id`. */
  clientId: string
  /** `claims.scope`, split. */
  scopes: string[]
  /** How it was presented. */
  scheme: 'Bearer' | 'DPoP'
  /** The resource it was verified for. */
  resource: string
}

/** What {@link ResourceServer.authenticate} decides. */
export type Authentication = { ok: true; token: VerifiedToken } | { ok: false; error: ResourceError; response: Response }

/** Per-route requirements. */
export interface RequireOptions {
  /** Scopes this route needs, on top of the resource's `scopes`. */
  scopes?: readonly string[]
}

/** The resource-server helper: metadata, verification and challenges for one resource. */
export interface ResourceServer {
  readonly resource: string
  /** The absolute URL of this resource's metadata, as `WWW-Authenticate` names it. */
  readonly metadataUrl: string
  /** The RFC 9728 document. */
  metadata(): ProtectedResourceMetadata
  /** Answers a metadata request (both well-known forms), or undefined when `req` is not one. */
  metadataResponse(req: Request): Response | undefined
  /** Verifies `req`'s access token (and DPoP proof); throws {@link ResourceError}. */
  verify(req: Request, options?: RequireOptions): Promise<VerifiedToken>
  /** {@link verify}, with the 4xx/503 answer built for a refusal. */
  authenticate(req: Request, options?: RequireOptions): Promise<Authentication>
  /** Refusal → its answer (status, `WWW-Authenticate`, error body; CORS headers when configured). */
  refusal(err: ResourceError, req: Request, options?: RequireOptions): Response
  /**
   * With `cors` configured, the answer to a CORS preflight on a protected route (204 for an
   * allowed origin, 403 otherwise); undefined for any other request, or without `cors`. Ask it
   * before {@link authenticate}: a preflight never carries the token.
   */
  preflight(req: Request): Response | undefined
  /** `response` with the CORS headers for `req`'s origin when `cors` is configured; else `response` as it is. */
  withCors(req: Request, response: Response): Response
  /** The CORS headers for `req`'s origin (none without `cors`), for adapters that write them themselves. */
  corsHeaders(req: Request): [string, string][]
  /**
   * The plain fetch-style wrapper: metadata requests are answered, every other request must carry
   * a valid token and reaches `handler` with it.
   */
  handle(req: Request, handler: (req: Request, token: VerifiedToken) => Response | Promise<Response>, options?: RequireOptions): Promise<Response>
}

const MAX_TOKEN_LENGTH = 8192
// RFC 6750 §2.1 b64token, for both schemes (RFC 9449 §7.1 uses the same syntax).
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i

/**
 * Creates the resource-server helper for one protected resource (an API or an MCP server).
 *
 * Access tokens are verified locally with jose against the issuer's JWKS: signature, `iss`,
 * `typ: at+jwt` (RFC 9068 §4, so an ID token cannot pass), `exp`/`nbf` on the injected clock, and
 * `aud` naming this resource (RFC 8707): a token minted for another resource is refused, which
 * is what makes forwarding tokens between services useless to an attacker. The helper never
 * forwards a token anywhere (no passthrough, MCP authorization §"Token passthrough"); a server that
 * calls another API gets its own token for it (token exchange).
 *
 * DPoP-bound tokens (`cnf.jkt`) are accepted only under the `DPoP` scheme with a proof checked by
 * core's `verifyDpopProof` — `htm`/`htu` of this request, `ath` of this token, the key matching
 * `cnf.jkt` — and a `jti` not seen before. A bound token presented as Bearer is refused: the
 * binding is the point.
 *
 * @example
 * const rs = createResourceServer({ resource: 'https://mcp.example/mcp', issuer: 'https://id.example', scopes: ['mcp'] })
 * export default { fetch: (req: Request) => rs.handle(req, (req, token) => Response.json({ hello: token.subject })) }
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  if (!URL.canParse(options.resource) || options.resource.includes('#')) {
    throw Object.assign(new TypeError('resource must be an absolute URL without a fragment (RFC 8707 §2)'), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  if (!URL.canParse(options.issuer)) throw Object.assign(new TypeError('issuer must be an absolute URL'), { code: 'ERR_INVALID_ARG_VALUE' })
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const fetchFn = options.fetch ?? ((input, init) => fetch(input, init))
  const tolerance = options.clockTolerance ?? 5
  const dpop = options.dpop ?? true
  const dpopAlgs = dpop === false ? undefined : (options.dpopAlgorithms ?? DPOP_SIGNING_ALGS)
  const baseScopes = options.scopes ?? []
  const keys = createIssuerKeys({ issuer: options.issuer, fetch: fetchFn, now, refetchFloorSeconds: options.jwksRefetchFloorSeconds })
  const replay = options.replayCache ?? createMemoryReplayCache(now)
  const metadataUrl = metadataUrlFor(options.resource)
  const resourceOrigin = new URL(options.resource).origin
  const cors = options.cors ? createCors(options.cors) : undefined
  const withCors = (req: Request, res: Response) => (cors ? cors.apply(req, res) : res)

  const doc: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: [options.issuer],
    ...(options.scopesSupported ?? baseScopes).length ? { scopes_supported: [...(options.scopesSupported ?? baseScopes)] } : {},
    bearer_methods_supported: ['header'],
    ...(dpopAlgs ? { dpop_signing_alg_values_supported: [...dpopAlgs] } : {}),
    ...(dpop === 'required' ? { dpop_bound_access_tokens_required: true } : {}),
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation ? { resource_documentation: options.resourceDocumentation } : {}),
  }

  const required = (opts?: RequireOptions) => [...new Set([...baseScopes, ...(opts?.scopes ?? [])])]
  const schemeOf = (req: Request) => (/^dpop /i.test(req.headers.get('authorization') ?? '') ? 'DPoP' : /^bearer /i.test(req.headers.get('authorization') ?? '') ? 'Bearer' : undefined)

  async function verify(req: Request, opts?: RequireOptions): Promise<VerifiedToken> {
    const header = req.headers.get('authorization')
    // RFC 6750 §2: Evergreen's resources take the token in the header only; a token in the URL
    // ends up in logs and Referer headers (RFC 6750 §5.3, OAuth 2.1 §5.1).
    if (new URL(req.url).searchParams.has('access_token')) throw new ResourceError('INVALID_REQUEST', 'send the access token in the Authorization header')
    if (header === null || !/^(bearer|dpop) /i.test(header)) throw new ResourceError('MISSING_TOKEN', 'an access token is required')
    const match = AUTHORIZATION.exec(header)
    if (!match) throw new ResourceError('INVALID_REQUEST', 'the Authorization header is malformed')
    const scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    const token = match[2]!
    if (scheme === 'DPoP' && !dpopAlgs) throw new ResourceError('INVALID_TOKEN', 'this resource does not accept DPoP')
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) throw new ResourceError('INVALID_TOKEN', 'the access token is not valid')

    const claims = await verifyJwt(token)
    const jkt = claims.cnf?.jkt
    if (scheme === 'Bearer' && jkt !== undefined) throw new ResourceError('INVALID_TOKEN', 'a DPoP-bound access token must be presented with the DPoP scheme')
    if (scheme === 'Bearer' && dpop === 'required') throw new ResourceError('INVALID_TOKEN', 'this resource requires DPoP-bound access tokens')
    if (scheme === 'DPoP') {
      if (typeof jkt !== 'string') throw new ResourceError('INVALID_TOKEN', 'the access token is not DPoP-bound')
      await checkProof(req, token, jkt)
    }

    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []
    const missing = required(opts).filter((s) => !scopes.includes(s))
    if (missing.length > 0) throw new ResourceError('INSUFFICIENT_SCOPE', `the access token lacks the scope ${missing.join(' ')}`)
    return { token, claims, subject: claims.sub, clientId: claims.client_id, scopes, scheme, resource: options.resource }
  }

  async function verifyJwt(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, keys.getKey, {
        issuer: options.issuer,
        audience: options.resource,
        typ: 'at+jwt',
        currentDate: new Date(now() * 1000),
        clockTolerance: tolerance,
        requiredClaims: ['sub', 'exp', 'iat', 'client_id'],
      })
      if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string') throw new ResourceError('INVALID_TOKEN', 'the access token is not valid')
      if (payload.cnf !== undefined && (typeof payload.cnf !== 'object' || payload.cnf === null)) throw new ResourceError('INVALID_TOKEN', 'the access token is not valid')
      return payload as AccessTokenClaims
    } catch (err) {
      if (err instanceof ResourceError) throw err
      if (err instanceof errors.JWTExpired) throw new ResourceError('INVALID_TOKEN', 'the access token expired', { cause: err })
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
        throw new ResourceError('INVALID_TOKEN', 'the access token was issued for another resource', { cause: err })
      }
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf') throw new ResourceError('INVALID_TOKEN', 'the access token is not valid yet', { cause: err })
      throw new ResourceError('INVALID_TOKEN', 'the access token is not valid', { cause: err })
    }
  }

  async function checkProof(req: Request, token: string, jkt: string): Promise<void> {
    const proof = req.headers.get('dpop')
    // Headers joins repeated fields with ", "; a compact JWS has no comma, so one means two proofs.
    if (proof === null || proof.includes(',')) throw new ResourceError('INVALID_DPOP_PROOF', 'exactly one DPoP proof is required')
    const t = now()
    // htu is this request as the client addressed it: the resource's public origin (a proxy
    // may have rewritten Host) with the path of the request (RFC 9449 §4.3 check 9).
    const url = `${resourceOrigin}${new URL(req.url).pathname}`
    let verified
    try {
      verified = await verifyDpopProof({ proof, method: req.method, url, now: t, accessToken: token, algorithms: dpopAlgs! })
    } catch (err) {
      if (err instanceof DpopProofError) throw new ResourceError('INVALID_DPOP_PROOF', err.message, { cause: err })
      throw err
    }
    if (verified.jkt !== jkt) throw new ResourceError('INVALID_DPOP_PROOF', 'the DPoP proof key is not the one the access token is bound to')
    // Recorded last: only a proof that passed everything else can take a place in the cache.
    const fresh = await replay.use(`${jkt}:${verified.jti}`, verified.iat + DPOP_DEFAULT_IAT_WINDOW_SECONDS + tolerance)
    if (!fresh) throw new ResourceError('INVALID_DPOP_PROOF', 'the DPoP proof was already used')
  }

  // The refusal carries CORS headers too: a browser client must read the 401's WWW-Authenticate
  // to find resource_metadata and start authorization.
  const refuse = (err: ResourceError, req: Request, opts?: RequireOptions) =>
    withCors(req, refusal(err, { resourceMetadataUrl: metadataUrl, dpopAlgs, scopes: required(opts) }, schemeOf(req)))

  async function authenticate(req: Request, opts?: RequireOptions): Promise<Authentication> {
    try {
      return { ok: true, token: await verify(req, opts) }
    } catch (err) {
      if (!(err instanceof ResourceError)) throw err
      return { ok: false, error: err, response: refuse(err, req, opts) }
    }
  }

  return {
    resource: options.resource,
    metadataUrl,
    metadata: () => structuredClone(doc),
    metadataResponse: (req) => metadataResponse(req, doc),
    verify,
    authenticate,
    refusal: refuse,
    preflight: (req) => cors?.preflight(req),
    withCors,
    corsHeaders: (req) => cors?.headers(req) ?? [],
    async handle(req, handler, opts) {
      const meta = metadataResponse(req, doc)
      if (meta) return meta
      const preflight = cors?.preflight(req)
      if (preflight) return preflight
      const auth = await authenticate(req, opts)
      return auth.ok ? withCors(req, await handler(req, auth.token)) : auth.response
    },
  }
}
