/**
 * The answers the middleware itself sends. Every one is `Cache-Control: no-store` (it depends on
 * cookies), and the pages carry a CSP with nothing inline: no script at all, and `form-action`
 * limited to this origin and the token service, which the logout form redirects to.
 */

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** Headers every auth-layer answer starts with; `set-cookie` lines are appended after. */
function baseHeaders(cookies: readonly string[], extra: Record<string, string> = {}): Headers {
  const h = new Headers({ 'cache-control': 'no-store', ...extra })
  for (const c of cookies) h.append('set-cookie', c)
  return h
}

function page(status: number, title: string, body: string, cookies: readonly string[], formOrigins: string, extra: Record<string, string> = {}, head = ''): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${head}<title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>
`
  return new Response(html, {
    status,
    headers: baseHeaders(cookies, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; form-action 'self' ${formOrigins}; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      ...extra,
    }),
  })
}

/** A redirect (303: the next request is a GET whatever this one was). */
export function redirect(location: string, cookies: readonly string[]): Response {
  return new Response(null, { status: 303, headers: baseHeaders(cookies, { location, 'referrer-policy': 'no-referrer' }) })
}

/** An API request without a usable session: 401 with where to sign in. */
export function sessionExpiredJson(loginUrl: string, cookies: readonly string[]): Response {
  return Response.json({ error: 'session_expired', login_url: loginUrl }, { status: 401, headers: baseHeaders(cookies) })
}

/** An API request while the token service is unreachable (or another request won a rotation). */
export function unavailableJson(retryAfter: number, cookies: readonly string[]): Response {
  return Response.json(
    { error: 'temporarily_unavailable', error_description: 'the sign-in service is unavailable; retry shortly', retry_after: retryAfter },
    { status: 503, headers: baseHeaders(cookies, { 'retry-after': String(retryAfter) }) },
  )
}

/** A presented access token that could not be checked (its replay cache or the revocation list failed). */
export function tokenCheckFailedJson(retryAfter: number): Response {
  return Response.json(
    { error: 'temporarily_unavailable', error_description: 'the access token could not be checked; retry shortly' },
    { status: 503, headers: baseHeaders([], { 'retry-after': String(retryAfter) }) },
  )
}

/**
 * A navigation while the token service is unreachable: a page that reloads itself after
 * `retryAfter` seconds with a meta refresh (no script, so a strict CSP holds). The session is
 * kept, so the reload succeeds as soon as the service is back.
 */
export function retryPage(retryAfter: number, cookies: readonly string[], formOrigins: string): Response {
  return page(
    503,
    'Reconnecting…',
    `<p>The sign-in service is not answering right now. You are still signed in; this page retries in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.</p>`,
    cookies,
    formOrigins,
    { 'retry-after': String(retryAfter) },
    `<meta http-equiv="refresh" content="${retryAfter}">`,
  )
}

/** The GET /auth/logout page: one button that POSTs the logout form with its CSRF token. */
export function logoutConfirmPage(action: string, csrf: string, formOrigins: string): Response {
  return page(
    200,
    'Sign out?',
    `<form method="post" action="${esc(action)}"><input type="hidden" name="csrf" value="${esc(csrf)}"><button type="submit">Sign out</button></form>`,
    [],
    formOrigins,
  )
}

/** A failed login callback or a refused form: a short page with a way forward. */
export function problemPage(status: number, title: string, message: string, link: { href: string; text: string }, cookies: readonly string[], formOrigins: string): Response {
  return page(status, title, `<p>${esc(message)}</p><p><a href="${esc(link.href)}">${esc(link.text)}</a></p>`, cookies, formOrigins)
}

/** The back-channel logout endpoint's JSON answers. */
export function backchannelJson(status: 200 | 400 | 503, body: Record<string, unknown> | undefined): Response {
  return body === undefined
    ? new Response(null, { status, headers: baseHeaders([]) })
    : Response.json(body, { status, headers: baseHeaders([], status === 503 ? { 'retry-after': '5' } : {}) })
}
