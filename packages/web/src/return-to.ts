const MAX_LENGTH = 2048
// C0 controls, DEL, whitespace and backslash: browsers strip tabs/newlines from URLs and treat
// `\` as `/`, so `/\evil.example` or `/<TAB>/evil.example` can become `//evil.example`.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0020\u007f\\]/

/**
 * The `return_to` a login may send the person back to, or undefined when it is not a clean path
 * on the app's own origin. Checked both as given and once percent-decoded, because a later hop
 * (a proxy, a framework's router) may decode it: `/%2F%2Fevil` and `/%09/evil` are refused.
 * The result is the URL parser's own serialisation of the path, query and fragment.
 *
 * @example safeReturnTo('/dashboard?tab=keys', new URL('https://dash.example.com')) // '/dashboard?tab=keys'
 * @example safeReturnTo('//evil.example', new URL('https://dash.example.com'))       // undefined
 */
export function safeReturnTo(raw: string | null | undefined, origin: URL): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return undefined
  if (!raw.startsWith('/') || raw.startsWith('//') || UNSAFE.test(raw)) return undefined
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    return undefined
  }
  if (decoded.startsWith('//') || UNSAFE.test(decoded)) return undefined
  if (!URL.canParse(raw, origin)) return undefined
  const url = new URL(raw, origin)
  if (url.origin !== origin.origin || url.username || url.password) return undefined
  if (url.pathname.startsWith('//')) return undefined
  return `${url.pathname}${url.search}${url.hash}`
}
