import { readFileSync } from 'node:fs'
import { Option, type Command } from 'commander'
import { CliError } from '../../io.js'
import { connect, fetchList, listFooter, printJson, seg, wantsJson, withJson, type AdminDeps } from './context.js'
import { formatDetails, formatDuration, formatList, formatTable, formatTime } from './format.js'
import { collect, collectGrantType, collectWords, parseLimit, parseNonNegativeSeconds, parseSeconds, parseSecondsOrNone } from './parse.js'
import { TOKEN_ENDPOINT_AUTH_METHODS, type CreatedClientView, type RotatedSecretView, type TokenExchangePolicy } from '@evergreen/core'

/** `'none'` (from `clients update`) clears the field, so the server default applies again. */
type Seconds = number | 'none'

interface ClientOptions {
  name?: string
  redirectUri?: string[]
  postLogoutRedirectUri?: string[]
  backchannelLogoutUri?: string
  grantType?: string[]
  authMethod?: string
  scope?: string[]
  allowedAudience?: string[]
  accessTokenTtl?: Seconds
  refreshTokenTtl?: Seconds
  refreshTokenTtlMax?: Seconds
  sessionMaxLifetime?: Seconds
  firstParty?: boolean
  clientId?: string
  jwksFile?: string
  jwksUri?: string
  defaultResource?: string
  exchangeSubjectClient?: string[]
  exchangeAllowedScope?: string[]
  exchangeAllowedAudience?: string[]
  exchangeAllowedResource?: string[]
  exchangeMaxRefreshTtl?: Seconds
  /** false from `--no-token-exchange`: remove the policy. */
  tokenExchange?: boolean
  requireDpop?: boolean
  dpopBoundAccessTokens?: boolean
}

const EXCHANGE_OPTIONS = ['exchangeSubjectClient', 'exchangeAllowedScope', 'exchangeAllowedAudience', 'exchangeAllowedResource', 'exchangeMaxRefreshTtl'] as const
const NO_POLICY: TokenExchangePolicy = { subject_clients: [], allowed_scopes: [], allowed_audiences: [], allowed_resources: [], max_refresh_ttl: null }

/** `evergreen admin clients create|list|get|update|delete`. */
export function registerClients(admin: Command, deps: AdminDeps): void {
  const { io } = deps
  const clients = admin.command('clients').description('register and manage OAuth clients')

  const create = withJson(clients.command('create'))
    .description('register a client; a confidential client\'s secret is printed once')
    .requiredOption('--name <name>', 'display name')
    .option('--client-id <id>', 'choose the client_id (default: generated cli_…)')
    .addOption(new Option('--auth-method <method>', 'token endpoint authentication; `none` for a public client (default: client_secret_basic)').choices(TOKEN_ENDPOINT_AUTH_METHODS))
  addClientFields(create, parseSeconds)
  create
    .option('--first-party', 'a first-party client (the service\'s own apps)')
    .option('--require-dpop', 'refuse token requests without a DPoP proof (RFC 9449)')
    .option('--dpop-bound-access-tokens', 'bind access tokens to the DPoP key too (token_type DPoP); else they stay Bearer')
    .addHelpText('after', `
Durations are seconds, or a number with s, m, h or d. --grant-type accepts refresh_token,
client_credentials, authorization_code, device_code and token_exchange (which expand to their
urn:ietf:params:oauth:grant-type: URNs). Default grant: refresh_token. Any --exchange-* option
gives the client a token-exchange policy; without one it cannot exchange tokens.

Examples:
  $ evergreen admin clients create --name "Evergreen CLI" --auth-method none --first-party
  $ evergreen admin clients create --name "Build bot" --grant-type refresh_token \\
      --grant-type client_credentials --scope "deploy read" --refresh-token-ttl 90d
  $ evergreen admin clients create --name web --grant-type authorization_code \\
      --grant-type refresh_token --redirect-uri https://app.example.com/callback --json
  $ evergreen admin clients create --name "Nightly job" --grant-type client_credentials \\
      --auth-method private_key_jwt --jwks-file ./job.jwks.json
  $ evergreen admin clients create --name dashboard --grant-type authorization_code \\
      --grant-type refresh_token --redirect-uri https://dash.example.com/callback \\
      --post-logout-redirect-uri https://dash.example.com/signed-out \\
      --backchannel-logout-uri https://dash.example.com/backchannel-logout
  $ evergreen admin clients create --name "Research agent" --grant-type token_exchange \
      --grant-type refresh_token --exchange-subject-client workspace-app --exchange-allowed-scope read \
      --exchange-allowed-resource https://workspace.example/api --exchange-max-refresh-ttl 7d`)
    .action(async (opts: ClientOptions, cmd: Command) => {
      const client = await connect(cmd, deps).request<CreatedClientView>('POST', '/clients', {
        ...(opts.clientId !== undefined ? { client_id: opts.clientId } : {}),
        ...(opts.authMethod !== undefined ? { token_endpoint_auth_method: opts.authMethod } : {}),
        ...clientFields(opts),
        ...exchangeField(opts, null),
      })
      if (wantsJson(cmd)) return printJson(io, client)
      io.err(`created client ${client.client_id}`)
      io.out(clientDetails(client))
      if (client.client_secret) io.err('the client secret is shown only this once; store it now (only its hash is kept)')
    })

  withJson(clients.command('list'))
    .description('list clients, oldest first')
    .option('--limit <n>', 'clients per page (1-500)', parseLimit)
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'follow next_cursor until every client is listed')
    .addHelpText('after', `
Example:
  $ evergreen admin clients list --all`)
    .action(async (opts: { limit?: number; cursor?: string; all?: boolean }, cmd: Command) => {
      const page = await fetchList<CreatedClientView>(connect(cmd, deps), '/clients', { limit: opts.limit, cursor: opts.cursor }, opts.all === true)
      if (wantsJson(cmd)) return printJson(io, page)
      if (page.items.length > 0) {
        io.out(formatTable(page.items, [
          { header: 'CLIENT_ID', value: (c) => c.client_id },
          { header: 'NAME', value: (c) => c.name },
          { header: 'AUTH', value: (c) => c.token_endpoint_auth_method },
          { header: 'GRANTS', value: (c) => c.grant_types.map(shortGrant).join(',') },
          { header: 'FIRST_PARTY', value: (c) => (c.first_party ? 'yes' : 'no') },
          { header: 'CREATED', value: (c) => formatTime(c.created_at) },
        ]))
      }
      listFooter(io, 'clients', page)
    })

  withJson(clients.command('get'))
    .description('show one client')
    .argument('<client_id>')
    .addHelpText('after', `
Example:
  $ evergreen admin clients get cli_0mwt83u880000841430b656f763cb`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const client = await connect(cmd, deps).request<CreatedClientView>('GET', `/clients/${seg(id)}`)
      if (wantsJson(cmd)) return printJson(io, client)
      io.out(clientDetails(client))
    })

  const update = withJson(clients.command('update'))
    .description('change a client; list options replace the whole list')
    .argument('<client_id>')
    .option('--name <name>', 'display name')
  addClientFields(update, parseSecondsOrNone, ' (`none`: back to the server default)')
  update
    .option('--first-party', 'mark as a first-party client')
    .option('--no-first-party', 'mark as a third-party client')
    .option('--require-dpop', 'refuse token requests without a DPoP proof (RFC 9449)')
    .option('--no-require-dpop', 'accept token requests without a DPoP proof')
    .option('--dpop-bound-access-tokens', 'bind access tokens to the DPoP key too (token_type DPoP)')
    .option('--no-dpop-bound-access-tokens', 'issue Bearer access tokens even for DPoP-bound sessions')
    .option('--no-token-exchange', 'remove the token-exchange policy: the client can no longer exchange tokens')
    .addHelpText('after', `
The authentication method cannot change; register a new client instead. Sessions already issued
keep the refresh-token lifetime they started with.

Examples:
  $ evergreen admin clients update cli_… --refresh-token-ttl 90d --refresh-token-ttl-max 90d
  $ evergreen admin clients update cli_… --redirect-uri https://app.example.com/cb --redirect-uri http://127.0.0.1/cb
  $ evergreen admin clients update cli_… --session-max-lifetime none
  $ evergreen admin clients update cli_… --require-dpop --dpop-bound-access-tokens
  $ evergreen admin clients update cli_… --backchannel-logout-uri none --post-logout-redirect-uri none
  $ evergreen admin clients update agent_… --exchange-allowed-scope "read write" --default-resource none

--exchange-* options change those parts of the policy and keep the rest.`)
    .action(async (id: string, opts: ClientOptions, cmd: Command) => {
      const api = connect(cmd, deps)
      const wantsPolicy = opts.tokenExchange === false || EXCHANGE_OPTIONS.some((k) => opts[k] !== undefined)
      const current = wantsPolicy ? (await api.request<CreatedClientView>('GET', `/clients/${seg(id)}`)).token_exchange : null
      const patch = { ...clientFields(opts), ...exchangeField(opts, current) }
      if (Object.keys(patch).length === 0) throw new CliError('nothing to update: pass at least one option (see evergreen admin clients update --help)')
      const client = await api.request<CreatedClientView>('PATCH', `/clients/${seg(id)}`, patch)
      if (wantsJson(cmd)) return printJson(io, client)
      io.err(`updated client ${client.client_id}`)
      io.out(clientDetails(client))
    })

  withJson(clients.command('rotate-secret'))
    .description('issue a new client secret (printed once); the old one keeps working for --overlap')
    .argument('<client_id>')
    .option('--overlap <duration>', 'how long the previous secret stays valid (s, m, h or d; default 0: it stops at once; at most 7d)', parseNonNegativeSeconds)
    .addHelpText('after', `
Two secrets are valid during the overlap: deploy the new one everywhere, then let the old expire.
Rotating again during an overlap ends the older secret at once.

Example:
  $ evergreen admin clients rotate-secret cli_0mwt83u880000841430b656f763cb --overlap 24h`)
    .action(async (id: string, opts: { overlap?: number }, cmd: Command) => {
      const rotated = await connect(cmd, deps).request<RotatedSecretView>('POST', `/clients/${seg(id)}/secret`, {
        ...(opts.overlap !== undefined ? { overlap: opts.overlap } : {}),
      })
      if (wantsJson(cmd)) return printJson(io, rotated)
      io.out(rotated.client_secret)
      io.err(
        rotated.previous_secret_expires_at === null
          ? 'the previous secret no longer works'
          : `the previous secret works until ${formatTime(rotated.previous_secret_expires_at)}`,
      )
      io.err('the new secret is shown only this once; store it now (only its hash is kept)')
    })

  withJson(clients.command('delete'))
    .description('delete a client; its tokens stop working')
    .argument('<client_id>')
    .addHelpText('after', `
With --json, prints {"client_id": …, "deleted": true} (the API answers 204 with no body).

Example:
  $ evergreen admin clients delete cli_0mwt83u880000841430b656f763cb`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await connect(cmd, deps).request('DELETE', `/clients/${seg(id)}`)
      if (wantsJson(cmd)) return printJson(io, { client_id: id, deleted: true })
      io.err(`deleted client ${id}`)
    })
}

function addClientFields(cmd: Command, seconds: (value: string) => Seconds, ttlNote = ''): void {
  const updating = ttlNote !== ''
  cmd
    .option('--redirect-uri <uri>', 'allowed redirect URI (repeatable)', collect)
    .option('--post-logout-redirect-uri <url>', `where end-session may send the browser afterwards (repeatable)${updating ? '; `none` clears the list' : ''}`, collect)
    .option('--backchannel-logout-uri <url>', `where logout tokens are POSTed when a session of this client is revoked${updating ? '; `none` removes it' : ''}`)
    .option('--grant-type <grant>', 'allowed grant type (repeatable)', collectGrantType)
    .option('--scope <scope>', 'allowed scope (repeatable, or space-separated; none: only openid profile email offline_access)', collectWords)
    .option('--allowed-audience <aud>', 'an audience its tokens may name (repeatable; none: only its own client_id)', collect)
    .option('--access-token-ttl <seconds>', `access-token lifetime${ttlNote}`, seconds)
    .option('--refresh-token-ttl <seconds>', `default refresh-token (idle) lifetime${ttlNote}`, seconds)
    .option('--refresh-token-ttl-max <seconds>', `most a request may ask for${ttlNote}`, seconds)
    .option('--session-max-lifetime <seconds>', `absolute session end, whatever the refreshes${ttlNote}`, seconds)
    .option('--default-resource <uri>', `RFC 8707 resource for token requests that name none${updating ? '; `none` removes it' : ''}`)
    .option('--exchange-subject-client <client_id>', 'token exchange: a client whose users\' tokens this client may exchange (repeatable)', collect)
    .option('--exchange-allowed-scope <scope>', 'token exchange: a scope delegated tokens may carry (repeatable; none: any of the subject\'s)', collectWords)
    .option('--exchange-allowed-audience <aud>', 'token exchange: an audience delegated tokens may name (repeatable)', collect)
    .option('--exchange-allowed-resource <uri>', 'token exchange: a resource delegated tokens may name (repeatable)', collect)
    .option('--exchange-max-refresh-ttl <seconds>', `token exchange: longest refresh lifetime of a delegated session${ttlNote}`, seconds)
    .option('--jwks-file <path>', 'a JSON file holding the public JWK Set, for --auth-method private_key_jwt')
    .option('--jwks-uri <url>', `where the public JWK Set is fetched, for --auth-method private_key_jwt (https)${updating ? '; `none` removes it' : ''}`)
}

function readJwks(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new CliError(`${file} is not JSON: it must hold a JWK Set ({"keys": [...]})`)
  }
}

/**
 * The `token_exchange` field, when any --exchange-* option (or --no-token-exchange) was given:
 * the API takes the whole policy, so the given parts are laid over `current`.
 */
function exchangeField(opts: ClientOptions, current: TokenExchangePolicy | null): { token_exchange?: TokenExchangePolicy | null } {
  if (opts.tokenExchange === false) return { token_exchange: null }
  if (!EXCHANGE_OPTIONS.some((k) => opts[k] !== undefined)) return {}
  const base = current ?? NO_POLICY
  const ttl = opts.exchangeMaxRefreshTtl
  return {
    token_exchange: {
      subject_clients: opts.exchangeSubjectClient ?? base.subject_clients,
      allowed_scopes: opts.exchangeAllowedScope ?? base.allowed_scopes,
      allowed_audiences: opts.exchangeAllowedAudience ?? base.allowed_audiences,
      allowed_resources: opts.exchangeAllowedResource ?? base.allowed_resources,
      max_refresh_ttl: ttl === undefined ? base.max_refresh_ttl : ttl === 'none' ? null : ttl,
    },
  }
}

/** Options → API body, with only the fields that were given. */
function clientFields(opts: ClientOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  if (opts.name !== undefined) body.name = opts.name
  if (opts.redirectUri !== undefined) body.redirect_uris = opts.redirectUri
  if (opts.postLogoutRedirectUri !== undefined) {
    body.post_logout_redirect_uris = opts.postLogoutRedirectUri.length === 1 && opts.postLogoutRedirectUri[0] === 'none' ? [] : opts.postLogoutRedirectUri
  }
  if (opts.backchannelLogoutUri !== undefined) body.backchannel_logout_uri = opts.backchannelLogoutUri === 'none' ? null : opts.backchannelLogoutUri
  if (opts.grantType !== undefined) body.grant_types = opts.grantType
  if (opts.scope !== undefined) body.allowed_scopes = opts.scope
  if (opts.allowedAudience !== undefined) body.allowed_audiences = opts.allowedAudience
  const seconds = (v: Seconds) => (v === 'none' ? null : v)
  if (opts.accessTokenTtl !== undefined) body.access_token_ttl = seconds(opts.accessTokenTtl)
  if (opts.refreshTokenTtl !== undefined) body.refresh_token_ttl = seconds(opts.refreshTokenTtl)
  if (opts.refreshTokenTtlMax !== undefined) body.refresh_token_ttl_max = seconds(opts.refreshTokenTtlMax)
  if (opts.sessionMaxLifetime !== undefined) body.session_max_lifetime = seconds(opts.sessionMaxLifetime)
  if (opts.firstParty !== undefined) body.first_party = opts.firstParty
  if (opts.requireDpop !== undefined) body.require_dpop = opts.requireDpop
  if (opts.dpopBoundAccessTokens !== undefined) body.dpop_bound_access_tokens = opts.dpopBoundAccessTokens
  if (opts.jwksFile !== undefined) body.jwks = readJwks(opts.jwksFile)
  if (opts.jwksUri !== undefined) body.jwks_uri = opts.jwksUri === 'none' ? null : opts.jwksUri
  if (opts.defaultResource !== undefined) body.default_resource = opts.defaultResource === 'none' ? null : opts.defaultResource
  return body
}

function clientDetails(c: CreatedClientView): string {
  const ttl = (v: number | null) => (v === null ? 'server default' : `${v} (${formatDuration(v)})`)
  return formatDetails([
    ['client_id', c.client_id],
    ['client_secret', c.client_secret],
    ['name', c.name],
    ['auth method', c.token_endpoint_auth_method],
    ['jwks uri', c.jwks_uri ?? undefined],
    ['jwks', c.jwks ? `${c.jwks.keys.length} key(s)` : undefined],
    ['previous secret until', c.previous_secret_expires_at ? formatTime(c.previous_secret_expires_at) : undefined],
    ['grant types', formatList(c.grant_types)],
    ['redirect uris', formatList(c.redirect_uris)],
    ['post-logout uris', formatList(c.post_logout_redirect_uris)],
    ['back-channel logout', c.backchannel_logout_uri ?? 'none'],
    ['scopes', formatList(c.allowed_scopes)],
    ['audiences', formatList(c.allowed_audiences)],
    ['access token ttl', ttl(c.access_token_ttl)],
    ['refresh token ttl', ttl(c.refresh_token_ttl)],
    ['refresh ttl max', c.refresh_token_ttl_max === null ? '90 days (server cap)' : ttl(c.refresh_token_ttl_max)],
    ['session max', c.session_max_lifetime === null ? 'none (renews indefinitely)' : ttl(c.session_max_lifetime)],
    ['first party', c.first_party ? 'yes' : 'no'],
    ['dpop', c.require_dpop ? 'required' : 'optional'],
    ['dpop-bound access tokens', c.dpop_bound_access_tokens ? 'yes' : 'no'],
    // Shown only for clients no operator created: `dynamic` (RFC 7591) or `metadata_document`.
    ['registration', c.registration && c.registration !== 'admin' ? c.registration : undefined],
    ['last used', c.last_used_at ? formatTime(c.last_used_at) : undefined],
    ['expires unless used', c.expires_at ? formatTime(c.expires_at) : undefined],
    ['default resource', c.default_resource ?? 'none'],
    ['token exchange', c.token_exchange === null ? 'not allowed' : [
      `from ${formatList(c.token_exchange.subject_clients)}`,
      `scopes ${c.token_exchange.allowed_scopes.length === 0 ? 'any of the subject\'s' : formatList(c.token_exchange.allowed_scopes)}`,
      `audiences ${formatList(c.token_exchange.allowed_audiences)}`,
      `resources ${formatList(c.token_exchange.allowed_resources)}`,
      `max refresh ${c.token_exchange.max_refresh_ttl === null ? '90 days (server cap)' : ttl(c.token_exchange.max_refresh_ttl)}`,
    ].join('; ')],
    ['created', formatTime(c.created_at)],
    ['updated', formatTime(c.updated_at)],
  ])
}

function shortGrant(grant: string): string {
  return grant.replace('urn:ietf:params:oauth:grant-type:', '')
}
