import { html, type SafeHtml } from './html.js'

export interface PageOptions {
  title: string
  /** Signed-in user's email, shown in the header with a sign-out button. */
  user?: { email: string } | undefined
  csrf?: string | undefined
  status?: number
  /** Origins a form on this page may end up redirecting to (CSP form-action follows redirects). */
  formTargets?: readonly string[]
  script?: boolean
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
}

/** Content-Security-Policy for a page: nothing inline, nothing third-party, never framed. */
export function contentSecurityPolicy(formTargets: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "script-src 'self'",
    "img-src 'self' data:",
    `form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
}

/** Renders a full page with the security headers every page carries. */
export function page(body: SafeHtml, options: PageOptions): Response {
  const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Evergreen</title>
<link rel="stylesheet" href="/assets/evergreen.css">
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <a class="brand" href="/settings/sessions">Evergreen</a>
  ${options.user
    ? html`<nav aria-label="Account">
    <a href="/settings/sessions">Sessions</a>
    <a href="/settings/cli">CLI credential</a>
    <span class="muted">${options.user.email}</span>
    <form method="post" action="/logout"><input type="hidden" name="csrf" value="${options.csrf ?? ''}"><button class="link" type="submit">Sign out</button></form>
  </nav>`
    : ''}
</header>
<main id="main">
${body}
</main>
${options.script ? html`<script src="/assets/copy.js" defer></script>` : ''}
</body>
</html>`
  return new Response(document.value, {
    status: options.status ?? 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy(options.formTargets),
      ...SECURITY_HEADERS,
    },
  })
}

/** A redirect that keeps the security headers (a 303 so a POST becomes a GET). */
export function redirect(location: string, headers: Headers = new Headers()): Response {
  headers.set('location', location)
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) headers.set(k, v)
  return new Response(null, { status: 303, headers })
}

/** An error page: says what went wrong in words, never a stack trace. */
export function errorPage(title: string, message: string, status: number, options: Omit<PageOptions, 'title' | 'status'> = {}): Response {
  return page(html`<h1>${title}</h1><p class="error" role="alert">${message}</p>`, { ...options, title, status })
}
