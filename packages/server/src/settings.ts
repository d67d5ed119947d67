import { parseCidr } from './http/requester.js'
import { ServerError } from './errors.js'

/**
 * Every setting of the token service, in one table: its environment variables, its
 * `evergreen serve` flag, default and validation. README's settings table is checked against
 * this list by a test, so the two cannot drift.
 */

export interface Settings {
  port: number
  host: string
  dataDir: string
  databaseUrl: string | undefined
  redisUrl: string | undefined
  issuer: string
  adminKey: string | undefined
  secret: string | undefined
  accessTokenTtl: number
  refreshTokenTtl: number
  refreshGraceSeconds: number
  dpopNonce: boolean
  dpopIatWindowSeconds: number
  signingAlg: 'ES256' | 'RS256'
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  trustProxy: boolean
  trustedProxies: readonly string[]
  trustProxyHops: number
  rateLimitToken: number
  rateLimitAdmin: number
  maxBodyBytes: number
  databasePoolSize: number
  workers: number
  metricsToken: string | undefined
  metricsPort: number | undefined
  metricsHost: string
  loginSessionTtl: number
  cliClientId: string
  cliReauthSeconds: number
  rateLimitLogin: number
  rateLimitDevice: number
  upstreamIssuer: string | undefined
  upstreamClientId: string | undefined
  upstreamClientSecret: string | undefined
  upstreamName: string
  backchannelTimeoutSeconds: number
  backchannelMaxAttempts: number
  backchannelMaxPending: number
  clientMetadataDocuments: boolean
  clientMetadataAllowPrivate: boolean
  clientMetadataAllowedHosts: readonly string[]
  clientMetadataCacheMaxSeconds: number
  dynamicRegistration: boolean
  registrationToken: string | undefined
  rateLimitRegistration: number
  registeredClientTtl: number
}

export interface SettingSpec {
  key: keyof Settings
  env: readonly string[]
  flag: string
  description: string
  /** Shown in help and README; undefined means "none". */
  defaultText: string | undefined
}

const MAX_TTL = 7_776_000

export const SETTINGS: readonly SettingSpec[] = [
  { key: 'port', env: ['EVERGREEN_PORT', 'PORT'], flag: '--port', defaultText: '8787', description: 'TCP port to listen on.' },
  { key: 'host', env: ['EVERGREEN_HOST'], flag: '--host', defaultText: '127.0.0.1', description: 'Address to bind; `0.0.0.0` to accept remote connections.' },
  { key: 'dataDir', env: ['EVERGREEN_DATA_DIR'], flag: '--data-dir', defaultText: './.evergreen', description: 'Where the SQLite database, generated secret and admin key live.' },
  { key: 'databaseUrl', env: ['EVERGREEN_DATABASE_URL', 'DATABASE_URL'], flag: '--database-url', defaultText: undefined, description: 'A `postgres://` URL switches from embedded SQLite to PostgreSQL (requires `EVERGREEN_SECRET`).' },
  { key: 'issuer', env: ['EVERGREEN_ISSUER'], flag: '--issuer', defaultText: 'http://<host>:<port>', description: 'Public base URL; the `iss` of every token and the base of every endpoint in discovery.' },
  { key: 'adminKey', env: ['EVERGREEN_ADMIN_KEY'], flag: '--admin-key', defaultText: 'generated on first start', description: 'Bearer key for `/admin/v1/`. When unset, one is generated on first start, printed once and saved to `<data dir>/admin-key`.' },
  { key: 'secret', env: ['EVERGREEN_SECRET'], flag: '--secret', defaultText: 'generated (SQLite only)', description: 'Encrypts signing keys at rest (at least 32 characters). Every node of a PostgreSQL deployment needs the same value.' },
  { key: 'accessTokenTtl', env: ['EVERGREEN_ACCESS_TOKEN_TTL'], flag: '--access-token-ttl', defaultText: '900', description: 'Access-token lifetime in seconds, unless the client sets its own.' },
  { key: 'refreshTokenTtl', env: ['EVERGREEN_REFRESH_TOKEN_TTL'], flag: '--refresh-token-ttl', defaultText: '86400', description: `Default refresh-token (session idle) lifetime in seconds; requests and clients may choose up to ${MAX_TTL} (90 days).` },
  { key: 'refreshGraceSeconds', env: ['EVERGREEN_REFRESH_GRACE_SECONDS'], flag: '--refresh-grace-seconds', defaultText: '30', description: 'How long a spent refresh token still returns the same successor; `0` disables the grace window.' },
  { key: 'dpopNonce', env: ['EVERGREEN_DPOP_NONCE'], flag: '--dpop-nonce', defaultText: 'false', description: 'Require a server nonce in every DPoP proof at the token endpoint and at revocation (RFC 9449 §8): a proof without a current one gets 400 `use_dpop_nonce` with a `DPoP-Nonce` header. Nonces are derived from `EVERGREEN_SECRET` and the time, so every node accepts every node\'s nonce; each lasts 5 to 10 minutes.' },
  { key: 'dpopIatWindowSeconds', env: ['EVERGREEN_DPOP_IAT_WINDOW_SECONDS'], flag: '--dpop-iat-window-seconds', defaultText: '60', description: 'How far a DPoP proof\'s `iat` may be from the server clock, either way; its `jti` is remembered this long (in the store, shared by every node) so a proof is accepted once.' },
  { key: 'signingAlg', env: ['EVERGREEN_SIGNING_ALG'], flag: '--signing-alg', defaultText: 'ES256', description: 'Algorithm for new signing keys: `ES256` or `RS256`.' },
  { key: 'logLevel', env: ['EVERGREEN_LOG_LEVEL'], flag: '--log-level', defaultText: 'info', description: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.' },
  { key: 'trustProxy', env: ['EVERGREEN_TRUST_PROXY'], flag: '--trust-proxy', defaultText: 'false', description: 'Take the client address from `X-Forwarded-For` (only behind a proxy you run), read from the right: by default the address your one proxy saw; see the next two settings for more.' },
  { key: 'trustedProxies', env: ['EVERGREEN_TRUSTED_PROXIES'], flag: '--trusted-proxies', defaultText: undefined, description: 'With trust-proxy: comma-separated CIDRs (IPv4 or IPv6) of your proxies. The client address is the right-most `X-Forwarded-For` hop not in this list; a request whose socket peer is not in it is taken at the socket address.' },
  { key: 'trustProxyHops', env: ['EVERGREEN_TRUST_PROXY_HOPS'], flag: '--trust-proxy-hops', defaultText: '1', description: 'With trust-proxy and no trusted-proxy list: how many proxies of yours are in front; the client address is the one the outermost of them saw.' },
  { key: 'rateLimitToken', env: ['EVERGREEN_RATE_LIMIT_TOKEN'], flag: '--rate-limit-token', defaultText: '600', description: 'Requests per minute per client address to the token, revocation and introspection endpoints; `0` disables.' },
  { key: 'rateLimitAdmin', env: ['EVERGREEN_RATE_LIMIT_ADMIN'], flag: '--rate-limit-admin', defaultText: '20', description: 'Failed admin-key attempts per minute per client address before answering 429 to every request from it, right key or not; `0` disables.' },
  { key: 'maxBodyBytes', env: ['EVERGREEN_MAX_BODY_BYTES'], flag: '--max-body-bytes', defaultText: '65536', description: 'Largest request body accepted; larger bodies get 413.' },
  { key: 'loginSessionTtl', env: ['EVERGREEN_LOGIN_SESSION_TTL'], flag: '--login-session-ttl', defaultText: '43200', description: 'Lifetime in seconds of the browser sign-in to the service\'s own pages (login, device approval, settings).' },
  { key: 'cliClientId', env: ['EVERGREEN_CLI_CLIENT_ID'], flag: '--cli-client-id', defaultText: 'evergreen-cli', description: 'The built-in public client (created on first start) that device login and `/settings/cli` credentials use.' },
  { key: 'cliReauthSeconds', env: ['EVERGREEN_CLI_REAUTH_SECONDS'], flag: '--cli-reauth-seconds', defaultText: '300', description: 'A browser sign-in older than this must give its password again before `/settings/cli` mints a credential, so a stolen sign-in cookie cannot quietly mint long-lived CLI credentials; `0` asks every time.' },
  { key: 'rateLimitLogin', env: ['EVERGREEN_RATE_LIMIT_LOGIN'], flag: '--rate-limit-login', defaultText: '10', description: 'Failed sign-ins per 15 minutes per account, and five times that per client address, before sign-in is refused for a while; `0` disables. Counted before the password is checked. An account over its limit stays open, at half the rate, to addresses with no recent failures.' },
  { key: 'rateLimitDevice', env: ['EVERGREEN_RATE_LIMIT_DEVICE'], flag: '--rate-limit-device', defaultText: '10', description: 'Wrong user codes entered on `/device` per 15 minutes per signed-in user, and five times that per client address, before code entry is refused for a while (RFC 8628 §5.1); `0` disables.' },
  { key: 'upstreamIssuer', env: ['EVERGREEN_UPSTREAM_ISSUER'], flag: '--upstream-issuer', defaultText: undefined, description: 'Issuer URL of an upstream OpenID Connect provider (your SSO). When set, /login offers "Sign in with …"; users are matched or created by verified email the first time, then by the upstream issuer and subject.' },
  { key: 'upstreamClientId', env: ['EVERGREEN_UPSTREAM_CLIENT_ID'], flag: '--upstream-client-id', defaultText: undefined, description: 'Client id registered at the upstream provider, with redirect URI `<issuer>/login/upstream/callback`.' },
  { key: 'upstreamClientSecret', env: ['EVERGREEN_UPSTREAM_CLIENT_SECRET'], flag: '--upstream-client-secret', defaultText: undefined, description: 'Client secret at the upstream provider (client_secret_basic).' },
  { key: 'upstreamName', env: ['EVERGREEN_UPSTREAM_NAME'], flag: '--upstream-name', defaultText: 'SSO', description: 'What the sign-in button calls the upstream provider.' },
  { key: 'backchannelTimeoutSeconds', env: ['EVERGREEN_BACKCHANNEL_TIMEOUT_SECONDS'], flag: '--backchannel-timeout-seconds', defaultText: '5', description: 'How long a back-channel logout POST to a client\'s `backchannel_logout_uri` may take before it counts as failed.' },
  { key: 'backchannelMaxAttempts', env: ['EVERGREEN_BACKCHANNEL_MAX_ATTEMPTS'], flag: '--backchannel-max-attempts', defaultText: '8', description: 'Deliveries tried per back-channel logout (backoff 1 s, 2 s, 4 s … up to 5 min) before it is given up with a `backchannel_logout.failed` audit event.' },
  { key: 'backchannelMaxPending', env: ['EVERGREEN_BACKCHANNEL_MAX_PENDING'], flag: '--backchannel-max-pending', defaultText: '10000', description: 'Most back-channel logouts kept waiting; beyond it the oldest are dropped (warning log, `backchannel_logout.dropped` audit event, metric).' },
  { key: 'metricsToken', env: ['EVERGREEN_METRICS_TOKEN'], flag: '--metrics-token', defaultText: undefined, description: 'Serves `GET /metrics` on the public listener to `Authorization: Bearer <this token>` only (at least 16 characters). Unset: `/metrics` is not on the public listener.' },
  { key: 'metricsPort', env: ['EVERGREEN_METRICS_PORT'], flag: '--metrics-port', defaultText: undefined, description: 'Serves `GET /metrics` without a token on a separate listener at this port, for a scraper on a private network.' },
  { key: 'metricsHost', env: ['EVERGREEN_METRICS_HOST'], flag: '--metrics-host', defaultText: '127.0.0.1', description: 'Address the separate metrics listener binds.' },
  { key: 'redisUrl', env: ['EVERGREEN_REDIS_URL'], flag: '--redis-url', defaultText: undefined, description: 'A `redis://` (or `rediss://`) URL: every rate limit counts in this Redis, shared by all nodes. Without it, limits count in PostgreSQL when that is the store, else in process memory. See "Security" for what each limit does while its backend is down.' },
  { key: 'clientMetadataDocuments', env: ['EVERGREEN_CLIENT_METADATA_DOCUMENTS'], flag: '--client-metadata-documents', defaultText: 'true', description: 'Accept an https URL as `client_id` and read the client from the Client ID Metadata Document it serves (how MCP clients identify themselves); `false` stops `/authorize` from accepting them (clients already approved keep working until deleted).' },
  { key: 'clientMetadataAllowPrivate', env: ['EVERGREEN_CLIENT_METADATA_ALLOW_PRIVATE'], flag: '--client-metadata-allow-private', defaultText: 'false', description: 'Development only: fetch client metadata documents from private, loopback and link-local addresses too. Leave off in production: it lets anyone make the service request addresses on your network.' },
  { key: 'clientMetadataAllowedHosts', env: ['EVERGREEN_CLIENT_METADATA_ALLOWED_HOSTS'], flag: '--client-metadata-allowed-hosts', defaultText: undefined, description: 'Comma-separated host names: when set, client metadata documents are fetched only from these hosts (exact match).' },
  { key: 'clientMetadataCacheMaxSeconds', env: ['EVERGREEN_CLIENT_METADATA_CACHE_MAX_SECONDS'], flag: '--client-metadata-cache-max-seconds', defaultText: '3600', description: 'Longest a fetched client metadata document is reused (per process), whatever its `Cache-Control: max-age` says; documents are reused at least 60 s.' },
  { key: 'dynamicRegistration', env: ['EVERGREEN_DYNAMIC_REGISTRATION'], flag: '--dynamic-registration', defaultText: 'false', description: 'Serve RFC 7591 dynamic client registration at `/oauth/register` (and advertise it in discovery). Registered clients are public unless they ask for a secret, get no custom scopes, and expire when unused.' },
  { key: 'registrationToken', env: ['EVERGREEN_REGISTRATION_TOKEN'], flag: '--registration-token', defaultText: undefined, description: 'Initial access token (RFC 7591 §3): when set, registration requires `Authorization: Bearer <this token>` (at least 16 characters).' },
  { key: 'rateLimitRegistration', env: ['EVERGREEN_RATE_LIMIT_REGISTRATION'], flag: '--rate-limit-registration', defaultText: '10', description: 'Client registrations per hour per client address; `0` disables.' },
  { key: 'registeredClientTtl', env: ['EVERGREEN_REGISTERED_CLIENT_TTL'], flag: '--registered-client-ttl', defaultText: '2592000', description: 'A dynamically registered client unused (no authentication at any endpoint) for this many seconds stops working with `invalid_client` and is deleted by maintenance; each use extends it.' },
  { key: 'databasePoolSize', env: ['EVERGREEN_DATABASE_POOL_SIZE'], flag: '--database-pool-size', defaultText: '10', description: 'PostgreSQL connections per process.' },
  { key: 'workers', env: ['EVERGREEN_WORKERS'], flag: '--workers', defaultText: '1', description: 'Server processes on this machine (node:cluster), sharing the port; at most one per core is useful. Each has its own PostgreSQL pool. With SQLite and no Redis, each process counts the rate limits in memory on its share of the budget (the budget divided by the number of processes).' },
]

export class SettingsError extends ServerError<'INVALID_SETTINGS'> {
  constructor(readonly problems: string[]) {
    super('INVALID_SETTINGS', `invalid settings:\n  - ${problems.join('\n  - ')}`)
    this.name = 'SettingsError'
  }
}

type Raw = Partial<Record<keyof Settings, string>>

/**
 * Resolves settings: explicit values (from flags) win over environment variables, which win over
 * defaults. Collects every problem before failing, so one start shows them all.
 *
 * @throws SettingsError listing each invalid value
 */
export function loadSettings(explicit: Raw = {}, env: Record<string, string | undefined> = process.env): Settings {
  const problems: string[] = []
  const raw = (key: keyof Settings): { value: string; from: string } | undefined => {
    const spec = SETTINGS.find((s) => s.key === key)!
    if (explicit[key] !== undefined) return { value: explicit[key]!, from: spec.flag }
    for (const name of spec.env) {
      const v = env[name]
      if (v !== undefined && v !== '') return { value: v, from: name }
    }
    return undefined
  }
  const int = (key: keyof Settings, fallback: number, min: number, max: number): number => {
    const r = raw(key)
    if (!r) return fallback
    const n = Number(r.value)
    if (!/^\d+$/.test(r.value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      problems.push(`${r.from}=${JSON.stringify(r.value)} must be a whole number from ${min} to ${max}`)
      return fallback
    }
    return n
  }
  const oneOf = <T extends string>(key: keyof Settings, fallback: T, allowed: readonly T[]): T => {
    const r = raw(key)
    if (!r) return fallback
    if (!(allowed as readonly string[]).includes(r.value)) {
      problems.push(`${r.from}=${JSON.stringify(r.value)} must be one of ${allowed.join(', ')}`)
      return fallback
    }
    return r.value as T
  }
  const bool = (key: keyof Settings, fallback: boolean): boolean => {
    const r = raw(key)
    if (!r) return fallback
    if (/^(1|true|yes|on)$/i.test(r.value)) return true
    if (/^(0|false|no|off)$/i.test(r.value)) return false
    problems.push(`${r.from}=${JSON.stringify(r.value)} must be true or false`)
    return fallback
  }

  const cidrList = (key: keyof Settings): string[] => {
    const r = raw(key)
    if (!r) return []
    const items = r.value.split(',').map((v) => v.trim()).filter(Boolean)
    const bad = items.filter((v) => parseCidr(v) === undefined)
    if (bad.length > 0) problems.push(`${r.from} has ${bad.map((v) => JSON.stringify(v)).join(', ')}; expected IPv4 or IPv6 CIDRs such as 10.0.0.0/8 or fd00::/8`)
    return items
  }

  const hostList = (key: keyof Settings): string[] => {
    const r = raw(key)
    if (!r) return []
    const items = r.value.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean)
    const bad = items.filter((v) => !/^[a-z0-9.-]+$/.test(v) && !/^[0-9a-f:]+$/.test(v))
    if (bad.length > 0) problems.push(`${r.from} has ${bad.map((v) => JSON.stringify(v)).join(', ')}; expected host names such as app.example.com`)
    return items
  }

  const port = int('port', 8787, 0, 65535)
  const host = raw('host')?.value ?? '127.0.0.1'
  const databaseUrl = raw('databaseUrl')?.value
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(`${raw('databaseUrl')!.from} must be a postgres:// URL (SQLite is the default and needs no URL)`)
  }
  const redisUrl = raw('redisUrl')?.value
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) problems.push(`${raw('redisUrl')!.from} must be a redis:// or rediss:// URL`)
  const secret = raw('secret')?.value
  if (secret !== undefined && secret.length < 32) problems.push(`${raw('secret')!.from} must be at least 32 characters`)
  if (databaseUrl !== undefined && secret === undefined) {
    problems.push('EVERGREEN_SECRET is required with PostgreSQL, so every node decrypts the same signing keys')
  }
  const adminKey = raw('adminKey')?.value
  if (adminKey !== undefined && adminKey.length < 16) problems.push(`${raw('adminKey')!.from} must be at least 16 characters`)

  const displayHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  let issuer = raw('issuer')?.value ?? `http://${displayHost}:${port}`
  try {
    const u = new URL(issuer)
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error()
    if (u.search || u.hash) problems.push('EVERGREEN_ISSUER must not have a query or fragment')
    issuer = issuer.replace(/\/+$/, '')
  } catch {
    problems.push(`EVERGREEN_ISSUER=${JSON.stringify(issuer)} must be an http(s) URL`)
  }

  const settings: Settings = {
    port,
    host,
    dataDir: raw('dataDir')?.value ?? './.evergreen',
    databaseUrl,
    redisUrl,
    issuer,
    adminKey,
    secret,
    accessTokenTtl: int('accessTokenTtl', 900, 30, 86_400),
    refreshTokenTtl: int('refreshTokenTtl', 86_400, 60, MAX_TTL),
    refreshGraceSeconds: int('refreshGraceSeconds', 30, 0, 600),
    dpopNonce: bool('dpopNonce', false),
    dpopIatWindowSeconds: int('dpopIatWindowSeconds', 60, 5, 600),
    signingAlg: oneOf('signingAlg', 'ES256', ['ES256', 'RS256'] as const),
    logLevel: oneOf('logLevel', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    trustProxy: bool('trustProxy', false),
    trustedProxies: cidrList('trustedProxies'),
    trustProxyHops: int('trustProxyHops', 1, 1, 32),
    rateLimitToken: int('rateLimitToken', 600, 0, 10_000_000),
    rateLimitAdmin: int('rateLimitAdmin', 20, 0, 10_000_000),
    maxBodyBytes: int('maxBodyBytes', 65_536, 1024, 10_485_760),
    databasePoolSize: int('databasePoolSize', 10, 1, 200),
    workers: int('workers', 1, 1, 64),
    metricsToken: raw('metricsToken')?.value,
    metricsPort: raw('metricsPort') ? int('metricsPort', 0, 0, 65535) : undefined,
    metricsHost: raw('metricsHost')?.value ?? '127.0.0.1',
    loginSessionTtl: int('loginSessionTtl', 43_200, 60, 2_592_000),
    cliClientId: raw('cliClientId')?.value ?? 'evergreen-cli',
    cliReauthSeconds: int('cliReauthSeconds', 300, 0, 86_400),
    rateLimitLogin: int('rateLimitLogin', 10, 0, 1_000_000),
    rateLimitDevice: int('rateLimitDevice', 10, 0, 1_000_000),
    upstreamIssuer: raw('upstreamIssuer')?.value,
    upstreamClientId: raw('upstreamClientId')?.value,
    upstreamClientSecret: raw('upstreamClientSecret')?.value,
    upstreamName: raw('upstreamName')?.value ?? 'SSO',
    backchannelTimeoutSeconds: int('backchannelTimeoutSeconds', 5, 1, 60),
    backchannelMaxAttempts: int('backchannelMaxAttempts', 8, 1, 100),
    backchannelMaxPending: int('backchannelMaxPending', 10_000, 1, 10_000_000),
    clientMetadataDocuments: bool('clientMetadataDocuments', true),
    clientMetadataAllowPrivate: bool('clientMetadataAllowPrivate', false),
    clientMetadataAllowedHosts: hostList('clientMetadataAllowedHosts'),
    clientMetadataCacheMaxSeconds: int('clientMetadataCacheMaxSeconds', 3600, 60, 86_400),
    dynamicRegistration: bool('dynamicRegistration', false),
    registrationToken: raw('registrationToken')?.value,
    rateLimitRegistration: int('rateLimitRegistration', 10, 0, 1_000_000),
    registeredClientTtl: int('registeredClientTtl', 2_592_000, 3600, 31_536_000),
  }
  const upstream = [settings.upstreamIssuer, settings.upstreamClientId, settings.upstreamClientSecret]
  if (upstream.some((v) => v !== undefined) && upstream.some((v) => v === undefined)) {
    problems.push('EVERGREEN_UPSTREAM_ISSUER, EVERGREEN_UPSTREAM_CLIENT_ID and EVERGREEN_UPSTREAM_CLIENT_SECRET go together: set all three or none')
  }
  if (settings.upstreamIssuer !== undefined && !/^https?:\/\//.test(settings.upstreamIssuer)) {
    problems.push('EVERGREEN_UPSTREAM_ISSUER must be an http(s) URL')
  }
  if (!settings.trustProxy && (raw('trustedProxies') || raw('trustProxyHops'))) {
    problems.push('EVERGREEN_TRUSTED_PROXIES and EVERGREEN_TRUST_PROXY_HOPS only apply with EVERGREEN_TRUST_PROXY=true')
  }
  if (raw('trustedProxies') && raw('trustProxyHops')) {
    problems.push('set EVERGREEN_TRUSTED_PROXIES or EVERGREEN_TRUST_PROXY_HOPS, not both')
  }
  if (settings.metricsToken !== undefined && settings.metricsToken.length < 16) problems.push(`${raw('metricsToken')!.from} must be at least 16 characters`)
  if (settings.metricsPort !== undefined && settings.metricsPort === settings.port && settings.port !== 0) {
    problems.push('EVERGREEN_METRICS_PORT must differ from EVERGREEN_PORT: the point is to keep metrics off the public listener')
  }
  if (settings.registrationToken !== undefined && settings.registrationToken.length < 16) problems.push(`${raw('registrationToken')!.from} must be at least 16 characters`)
  if (settings.registrationToken !== undefined && !settings.dynamicRegistration) problems.push('EVERGREEN_REGISTRATION_TOKEN only applies with EVERGREEN_DYNAMIC_REGISTRATION=true')
  if (problems.length > 0) throw new SettingsError(problems)
  return settings
}
