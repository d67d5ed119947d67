import { auditEvent } from '../audit.js'
import type { Deps } from '../deps.js'
import { createAttemptLimit, type AttemptLimit } from '../http/attempt-limit.js'
import { isExpired } from '../http/client-auth.js'
import { ClientDocumentError } from '../errors.js'
import type { Settings } from '../settings.js'
import { StoreConflictError, type ClientRecord } from '../store/types.js'
import type { DocumentFetcherOptions } from './document-fetch.js'
import { validateClientMetadata } from './metadata.js'
import { newClientRecord } from './new-client.js'

/** A metadata document larger than this is refused: a client's few URIs and a key fit easily. */
export const MAX_CLIENT_DOCUMENT_BYTES = 16 * 1024
/** The whole fetch of a metadata document must finish within this. */
export const CLIENT_DOCUMENT_TIMEOUT_MS = 5_000
/**
 * A fetched document is reused at least this long, whatever its Cache-Control says (`no-store`
 * included): a burst of /authorize requests naming one client costs one fetch, and a client
 * cannot make every request cost us a fetch.
 */
export const CLIENT_DOCUMENT_MIN_CACHE_SECONDS = 60
/** Documents kept per process; the oldest is dropped beyond it, so the cache cannot grow without bound. */
const MAX_CACHED_DOCUMENTS = 1_000

/** The fetcher options the settings ask for (tests add a CA or a resolver to them). */
export function documentFetcherOptions(settings: Settings): DocumentFetcherOptions {
  return {
    allowPrivate: settings.clientMetadataAllowPrivate,
    allowedHosts: settings.clientMetadataAllowedHosts,
    maxBytes: MAX_CLIENT_DOCUMENT_BYTES,
    timeoutMs: CLIENT_DOCUMENT_TIMEOUT_MS,
  }
}

/**
 * Whether `clientId` names a Client ID Metadata Document: an https URL with a path and without
 * fragment, credentials or dot segments (the draft's §3 rules), at most 2048 characters.
 *
 * @example isMetadataDocumentId('https://app.example/oauth/client.json') // true
 * @see https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/
 */
export function isMetadataDocumentId(clientId: string): boolean {
  if (!clientId.startsWith('https://') || clientId.length > 2048 || !URL.canParse(clientId)) return false
  const u = new URL(clientId)
  // The URL must be the client_id as given: no normalisation may change what the document says.
  if (u.href !== clientId || u.username || u.password || u.hash || clientId.includes('#')) return false
  if (u.pathname === '/' || /\/\.\.?(\/|$)/.test(clientId.slice(u.origin.length))) return false
  return true
}

/**
 * Metadata documents fetched per minute on behalf of one address (cache hits are free). Each
 * distinct URL is a fetch, so without it one browser could make the service request a victim's
 * host as fast as it can send /authorize requests.
 */
export const CLIENT_DOCUMENT_FETCHES_PER_MINUTE = 30

const fetchLimits = new WeakMap<Deps, AttemptLimit>()

function fetchLimit(deps: Deps): AttemptLimit {
  let limit = fetchLimits.get(deps)
  if (!limit) {
    // Per node while the shared backend is down: it sheds abuse, and refusing every sign-in
    // to a metadata-document client during a Redis restart would cost more than it saves.
    limit = createAttemptLimit({ points: CLIENT_DOCUMENT_FETCHES_PER_MINUTE, durationSeconds: 60, name: 'client-metadata', whenDown: 'per-node' }, deps.limits, deps)
    fetchLimits.set(deps, limit)
  }
  return limit
}

interface Cached {
  record: ClientRecord
  until: number
}

const caches = new WeakMap<Deps, Map<string, Cached>>()

/**
 * The client `clientId` names, for the authorization endpoint: a registered client from the
 * store (an operator's client wins even when its id is an https URL); else, for an https URL and
 * with EVERGREEN_CLIENT_METADATA_DOCUMENTS on, the client its metadata document describes,
 * fetched through the SSRF-guarded fetcher and cached per process. Undefined when there is no
 * such client or it is deleted or expired.
 *
 * The document's client is not written here: {@link rememberDocumentClient} does that once a
 * person has approved it, so a crafted URL alone never adds a row.
 *
 * @param from `{ address }` of the requester: each document fetch (a cache miss) counts against
 *   {@link CLIENT_DOCUMENT_FETCHES_PER_MINUTE} for it, so the service cannot be made to fetch
 *   without bound on someone's behalf; or `'cache'` to never fetch (pages that only decorate
 *   themselves with the client, such as the login form's CSP targets, whose URL anyone can craft)
 * @throws ClientDocumentError when the document cannot be fetched or is not acceptable
 * @example const client = await resolveClient(deps, 'https://app.example/oauth/client.json', { address: '203.0.113.9' })
 */
export async function resolveClient(deps: Deps, clientId: string, from: { address: string } | 'cache'): Promise<ClientRecord | undefined> {
  const stored = await deps.store.getClient(clientId)
  if (stored && stored.registration !== 'metadata_document') return isExpired(stored, deps.now()) ? undefined : stored
  if (!isMetadataDocumentId(clientId)) return undefined
  if (!deps.settings.clientMetadataDocuments) throw new ClientDocumentError('disabled', 'client metadata documents are disabled')
  const described = from === 'cache' ? cachedDocumentClient(deps, clientId) : await documentClient(deps, clientId, from.address)
  if (!described) return stored
  return stored ? { ...described, created_at: stored.created_at, last_used_at: stored.last_used_at ?? null } : described
}

/**
 * The client a metadata document describes, from the per-process cache while it is fresh. Only
 * successes are cached: a failure is fetched again next time (the rate limits of the pages bound
 * how often).
 */
async function documentClient(deps: Deps, clientId: string, address: string): Promise<ClientRecord> {
  const hit = cachedDocumentClient(deps, clientId)
  if (hit) return hit
  // Counted before the fetch, like every limit here.
  const attempt = await fetchLimit(deps).take(address)
  if (!attempt.ok) throw new ClientDocumentError('rate_limited', 'too many client metadata document fetches from this address')
  let cache = caches.get(deps)
  if (!cache) caches.set(deps, (cache = new Map()))
  const now = deps.now()
  const fetched = await deps.fetchClientDocument(clientId)
  const record = parseClientDocument(clientId, fetched.body, now)
  const ttl = Math.min(
    Math.max(fetched.maxAgeSeconds ?? deps.settings.clientMetadataCacheMaxSeconds, CLIENT_DOCUMENT_MIN_CACHE_SECONDS),
    deps.settings.clientMetadataCacheMaxSeconds,
  )
  cache.delete(clientId)
  cache.set(clientId, { record, until: now + ttl })
  if (cache.size > MAX_CACHED_DOCUMENTS) cache.delete(cache.keys().next().value!)
  return record
}

/** The client a still-fresh cached document describes, if any. */
function cachedDocumentClient(deps: Deps, clientId: string): ClientRecord | undefined {
  const hit = caches.get(deps)?.get(clientId)
  return hit && hit.until > deps.now() ? hit.record : undefined
}

/**
 * A metadata document as a client record: the document's `client_id` must be the URL it was
 * fetched from, and its metadata pass {@link validateClientMetadata} with the methods a client
 * without a shared secret can use (`none`, `private_key_jwt`).
 *
 * @throws ClientDocumentError `not_json`, `client_id_mismatch` or `invalid_metadata`
 */
export function parseClientDocument(clientId: string, body: Uint8Array, now: number): ClientRecord {
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch (err) {
    throw new ClientDocumentError('not_json', 'client metadata document is not JSON', { cause: err })
  }
  // Draft §4.1: the document's client_id MUST equal the URL, by simple string comparison.
  if ((doc as { client_id?: unknown } | null)?.client_id !== clientId) {
    throw new ClientDocumentError('client_id_mismatch', 'client metadata document names another client_id')
  }
  if ((doc as { client_secret?: unknown }).client_secret !== undefined) {
    throw new ClientDocumentError('invalid_metadata', 'client metadata document must not hold a client_secret')
  }
  let meta
  try {
    meta = validateClientMetadata(doc, { authMethods: ['none', 'private_key_jwt'], defaultAuthMethod: 'none' })
  } catch (err) {
    throw new ClientDocumentError('invalid_metadata', `client metadata document: ${err instanceof Error ? err.message : 'invalid'}`, { cause: err })
  }
  return newClientRecord({
    client_id: clientId,
    name: meta.client_name ?? new URL(clientId).host,
    redirect_uris: meta.redirect_uris,
    grant_types: meta.grant_types,
    token_endpoint_auth_method: meta.token_endpoint_auth_method,
    jwks: meta.jwks,
    jwks_uri: meta.jwks_uri,
    registration: 'metadata_document',
    created_at: now,
  })
}

// What a stored copy of a document client must agree on with the document to need no write.
const DOCUMENT_FIELDS = ['name', 'redirect_uris', 'grant_types', 'token_endpoint_auth_method', 'jwks', 'jwks_uri'] as const

/**
 * Writes (or refreshes) the stored copy of a metadata-document client, once a person approved it
 * at /authorize: the token endpoint, revocation, sessions, audit events and the admin API then
 * find it under its `client_id` like any client (docs/architecture.md "Client registration").
 * A client an operator deleted stays deleted: the row keeps its id, so re-creating it conflicts.
 *
 * @returns false when the client was deleted by an operator
 */
export async function rememberDocumentClient(deps: Deps, client: ClientRecord): Promise<boolean> {
  if (client.registration !== 'metadata_document') return true
  const now = deps.now()
  const stored = await deps.store.getClient(client.client_id)
  if (stored) {
    if (DOCUMENT_FIELDS.every((f) => JSON.stringify(stored[f] ?? null) === JSON.stringify(client[f] ?? null))) return true
    const patch = Object.fromEntries(DOCUMENT_FIELDS.map((f) => [f, client[f]]))
    const audit = auditEvent(deps, 'client.updated', { client_id: client.client_id, data: { registration: 'metadata_document', fields: [...DOCUMENT_FIELDS] } })
    return (await deps.store.updateClient(client.client_id, { ...patch, updated_at: now }, audit)) !== undefined
  }
  try {
    const audit = auditEvent(deps, 'client.created', { client_id: client.client_id, data: { registration: 'metadata_document' } })
    await deps.store.createClient({ ...client, created_at: now, updated_at: now }, audit)
    return true
  } catch (err) {
    if (!(err instanceof StoreConflictError)) throw err
    // Another request wrote it first (fine), or an operator deleted it (refused).
    return (await deps.store.getClient(client.client_id)) !== undefined
  }
}
