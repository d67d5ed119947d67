/* global document, window, fetch -- browser globals; the repo's ESLint config is for Node */
// The "Call /api/me" button. A file, not an inline script, so the page's CSP can forbid inline code.
const button = document.getElementById('call-api')
const output = document.getElementById('api-result')

button?.addEventListener('click', async () => {
  output.textContent = 'Calling /api/me…'
  try {
    const res = await fetch('/api/me', { headers: { accept: 'application/json' }, credentials: 'same-origin' })
    const body = await res.json().catch(() => ({}))
    if (res.status === 401 && typeof body.login_url === 'string') {
      // The session is over: sign in again and come back here.
      window.location.assign(body.login_url)
      return
    }
    if (res.status === 503) {
      output.textContent = `The sign-in service is unavailable; retry in ${res.headers.get('retry-after') ?? 'a few'} s.`
      return
    }
    output.textContent = `${res.status}\n${JSON.stringify(body, null, 2)}`
  } catch (err) {
    output.textContent = `Request failed: ${err}`
  }
})
