#!/usr/bin/env node
// Per-request cost of @evergreen/web's core on the valid-cookie path: a request that carries a
// valid access cookie and its sealed refresh cookie, so the answer is "signed in" with no
// network at all. Target: < 50 µs per request.
//
//   npm run bench                          # builds; bench/compare.js runs this and reads the warm line
//   node bench/web-valid-cookie.js         # when dist/ is already built
//   BENCH_ITERATIONS=50000 node bench/web-valid-cookie.js
//
// Discovery and the JWKS come from an in-memory fetch (served once, then cached by the core);
// the access token is an ES256 JWT signed here. Three numbers:
// - warm: the same cookies again and again, as a signed-in browser sends them — the common case;
//   the verified token and the opened refresh cookie are cached, so this is parsing plus lookups;
// - warm + new Request: the same, including building the Request an adapter would build;
// - first sight: a different token on every request, so every request verifies an ES256
//   signature and opens the AES-GCM refresh cookie — the cost once per token per process.

/* global Request, Response, TextEncoder, crypto -- Node 20's built-ins; the repo's ESLint globals list only process, console, Buffer, URL */

import { existsSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
if (!existsSync(`${ROOT}packages/web/dist/index.js`)) {
  process.stderr.write('bench: packages/web/dist is missing: run `npm run build` (or `npm run bench`)\n')
  process.exit(1)
}
const { createEvergreenWeb } = await import('../packages/web/dist/index.js')
const { deriveSealKeys, seal } = await import('../packages/web/dist/seal.js')

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000)
const ISSUER = 'https://auth.bench.example'
const APP = 'https://dash.bench.example'
const CLIENT_ID = 'dashboard'
const SECRET = 'kN3v8QxPz2LmR7tYw5Bc9Hd4Jf6Gs1Ae0UiOo3Kl8Mq='
const NOW = 1_800_000_000

const { publicKey, privateKey } = await generateKeyPair('ES256')
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
const fetchStub = async (input) => {
  const url = String(input instanceof Request ? input.url : input)
  if (url.endsWith('/.well-known/openid-configuration')) {
    return Response.json({ issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize`, token_endpoint: `${ISSUER}/oauth/token`, jwks_uri: `${ISSUER}/.well-known/jwks.json` })
  }
  if (url.endsWith('/.well-known/jwks.json')) return Response.json({ keys: [jwk] })
  throw new Error(`bench: unexpected network call to ${url}`)
}
let networkCalls = 0
const web = createEvergreenWeb({
  issuer: ISSUER,
  clientId: CLIENT_ID,
  clientSecret: 'bench-secret',
  sessionSecret: SECRET,
  fetch: (i, init) => (networkCalls++, fetchStub(i, init)),
  now: () => NOW,
})

const accessToken = (jti) =>
  new SignJWT({ client_id: CLIENT_ID, scope: 'openid email', sid: 'ses_bench', jti })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(CLIENT_ID)
    .setSubject('usr_bench')
    .setIssuedAt(NOW - 60)
    .setExpirationTime(NOW + 840)
    .sign(privateKey)
const keys = await deriveSealKeys(new TextEncoder().encode(SECRET))
const sealed = (n) =>
  seal(keys, 'session', { v: 1, rt: `egr_${'x'.repeat(43)}${String(n).padStart(6, '0')}`, it: undefined, sid: 'ses_bench', sub: 'usr_bench', la: NOW - 60, ex: NOW + 86_400, pr: { email: 'ada@example.com' } }, crypto.getRandomValues(new Uint8Array(12)))
const cookieFor = async (n) => `theme=dark; __Host-evergreen.at.${NOW}=${await accessToken(`at_${n}`)}; __Host-evergreen.rt.${NOW}=${await sealed(n)}; _ga=GA1.2.3`

async function measure(label, requests) {
  const t0 = performance.now()
  for (let i = 0; i < requests.length; i++) {
    const result = await web.handle(typeof requests[i] === 'function' ? requests[i]() : requests[i])
    if (result.type !== 'session') throw new Error(`bench: expected a session, got ${result.type}`)
  }
  const us = ((performance.now() - t0) * 1000) / requests.length
  console.log(`${label.padEnd(22)} ${us.toFixed(1).padStart(7)} µs/request  (${requests.length} requests)`)
  return us
}

const cookie = await cookieFor(0)
const request = new Request(`${APP}/dashboard`, { headers: { cookie, accept: 'text/html' } })
// Warm-up: discovery, JWKS, key derivation and the JIT.
for (let i = 0; i < 2000; i++) await web.handle(request)
const callsAfterWarmup = networkCalls

console.log(`@evergreen/web valid-cookie path, Node ${process.version}, cookie header ${cookie.length} B`)
const warm = await measure('warm', Array(ITERATIONS).fill(request))
await measure('warm + new Request', Array.from({ length: ITERATIONS }, () => () => new Request(`${APP}/dashboard`, { headers: { cookie, accept: 'text/html' } })))
const distinct = Math.min(ITERATIONS, 2000)
const fresh = []
for (let i = 1; i <= distinct; i++) fresh.push(new Request(`${APP}/dashboard`, { headers: { cookie: await cookieFor(i) } }))
await measure('first sight (ES256)', fresh)
if (networkCalls !== callsAfterWarmup) {
  console.error(`bench: the valid-cookie path made ${networkCalls - callsAfterWarmup} network calls`)
  process.exit(1)
}
console.log(`target < 50 µs (warm): ${warm < 50 ? 'met' : 'MISSED'}; network calls on the measured path: 0`)
