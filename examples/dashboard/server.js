#!/usr/bin/env node
// A dashboard that keeps people signed in: @evergreen/web on Hono, plain ESM, no build step.
//
//   EVERGREEN_ISSUER=http://127.0.0.1:8787 DASHBOARD_CLIENT_ID=… DASHBOARD_CLIENT_SECRET=… \
//   DASHBOARD_SESSION_SECRET=$(openssl rand -base64 32) npm start
//
// Routes: / (public), /dashboard (signed in), /api/me (signed in, JSON), /static/dashboard.js,
// and the middleware's /auth/login, /auth/callback, /auth/logout, /auth/backchannel-logout.

import { readFileSync } from 'node:fs'
import { serve } from '@hono/node-server'
import { WebConfigError } from '@evergreen/web'
import { evergreen, requireSession } from '@evergreen/web/hono'
import { Hono } from 'hono'
import { html } from 'hono/html'

const env = process.env
const port = Number(env.PORT ?? 3000)
const missing = ['EVERGREEN_ISSUER', 'DASHBOARD_CLIENT_ID', 'DASHBOARD_CLIENT_SECRET', 'DASHBOARD_SESSION_SECRET'].filter((k) => !env[k])
if (missing.length > 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
  for (const k of missing) console.error(`dashboard: ${k} is required`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) console.error(`dashboard: PORT must be a port number, got ${JSON.stringify(env.PORT)}`)
  process.exit(1)
}
const publicUrl = (env.DASHBOARD_URL ?? `http://localhost:${port}`).replace(/\/+$/, '')

let auth
try {
  auth = evergreen({
    issuer: env.EVERGREEN_ISSUER,
    clientId: env.DASHBOARD_CLIENT_ID,
    clientSecret: env.DASHBOARD_CLIENT_SECRET,
    sessionSecret: env.DASHBOARD_SESSION_SECRET,
    baseUrl: publicUrl,
    scopes: ['openid', 'email', 'profile'],
    // An audit line per sign-in event; the hook never receives a token.
    onEvent: (event) => console.log(JSON.stringify({ msg: 'auth', ...event })),
  })
} catch (err) {
  if (!(err instanceof WebConfigError)) throw err
  for (const p of err.problems) console.error(`dashboard: ${p.option}: ${p.message}`)
  process.exit(1)
}

const issuerOrigin = new URL(env.EVERGREEN_ISSUER).origin
const script = readFileSync(new URL('./public/dashboard.js', import.meta.url))
const iso = (seconds) => (seconds === undefined ? 'unknown' : new Date(seconds * 1000).toISOString())

const app = new Hono()
app.use(auth)
app.use(async (c, next) => {
  await next()
  // Nothing inline anywhere: the script is a file, so this CSP holds. The logout form redirects
  // to the token service's end-session page, hence its origin in form-action.
  c.header('content-security-policy', `default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self' ${issuerOrigin}; frame-ancestors 'none'; base-uri 'none'`)
  c.header('x-content-type-options', 'nosniff')
  c.header('referrer-policy', 'same-origin')
})

const layout = (title, body) => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>
<body><main>${body}</main></body></html>`

app.get('/', (c) => {
  const s = c.get('evergreen')
  return c.html(layout('Evergreen dashboard', s
    ? html`<h1>Evergreen dashboard</h1><p>Signed in as <strong id="who">${s.email ?? s.sub}</strong>.</p><p><a href="/dashboard">Open the dashboard</a></p>`
    : html`<h1>Evergreen dashboard</h1><p>You are not signed in.</p><p><a id="sign-in" href="/auth/login?return_to=%2Fdashboard">Sign in</a></p>`))
})

app.get('/dashboard', requireSession(), (c) => {
  const s = c.get('evergreen')
  return c.html(layout('Dashboard', html`<h1>Dashboard</h1>
<dl>
  <dt>Signed in as</dt><dd id="who">${s.email ?? s.sub}</dd>
  <dt>User id</dt><dd id="sub">${s.sub}</dd>
  <dt>Access token expires</dt><dd id="access-expires"><time datetime="${iso(s.accessTokenExpiresAt)}">${iso(s.accessTokenExpiresAt)}</time></dd>
  <dt>Session expires</dt><dd id="session-expires"><time datetime="${iso(s.sessionExpiresAt)}">${iso(s.sessionExpiresAt)}</time></dd>
</dl>
<p><button type="button" id="call-api">Call /api/me</button></p>
<pre id="api-result" aria-live="polite"></pre>
<form method="post" action="/auth/logout"><input type="hidden" name="csrf" value="${s.csrfToken}"><button type="submit" id="sign-out">Sign out</button></form>
<script src="/static/dashboard.js"></script>`))
})

app.get('/api/me', requireSession(), (c) => {
  const s = c.get('evergreen')
  return c.json({
    sub: s.sub,
    sid: s.sid ?? null,
    email: s.email ?? null,
    name: s.name ?? null,
    access_token_expires_at: s.accessTokenExpiresAt,
    session_expires_at: s.sessionExpiresAt ?? null,
  })
})

// Browsers ask every origin for /favicon.ico, also on the middleware's own pages; without an
// answer each page load logs a 404 in the console.
app.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }))
app.get('/static/dashboard.js', (c) => c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }))

const server = serve({ fetch: app.fetch, port }, (info) => {
  console.log(`dashboard listening on ${env.DASHBOARD_URL ? publicUrl : `http://localhost:${info.port}`}`)
})
server.on('error', (err) => {
  console.error(`dashboard: ${err.message}`)
  process.exit(1)
})
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)))
