/**
 * Whether a request is an API call (answered with JSON, never a redirect) or a navigation
 * (answered with a page or a redirect to login). A `fetch()` that follows a 302 to the login page
 * gets HTML it cannot use, so anything that looks programmatic is an API call:
 * - a path under one of `apiPaths`;
 * - `Sec-Fetch-Mode: cors` or `no-cors`, or `Sec-Fetch-Dest: empty` (fetch/XHR; a navigation
 *   sends `navigate` / `document`);
 * - an `Accept` that ranks JSON above HTML.
 *
 * @see https://www.w3.org/TR/fetch-metadata/
 */
export function isApiRequest(request: Request, pathname: string, apiPaths: readonly string[]): boolean {
  for (const prefix of apiPaths) {
    if (pathname === prefix || pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`) || `${pathname}/` === prefix) return true
  }
  const mode = request.headers.get('sec-fetch-mode')
  if (mode === 'cors' || mode === 'no-cors') return true
  if (request.headers.get('sec-fetch-dest') === 'empty') return true
  return prefersJson(request.headers.get('accept'))
}

function prefersJson(accept: string | null): boolean {
  if (!accept) return false
  let json = -1
  let html = -1
  for (const part of accept.split(',').slice(0, 32)) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';')
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    const weight = q ? Number(q.slice(2)) : 1
    const w = Number.isFinite(weight) ? weight : 0
    if (type === 'application/json' || type.endsWith('+json')) json = Math.max(json, w)
    else if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, w)
  }
  return json > 0 && json > html
}
