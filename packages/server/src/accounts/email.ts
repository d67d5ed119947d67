/**
 * The form of an email address that decides whether two addresses are the same account: ASCII
 * letters lowercased, everything else byte for byte. No Unicode case folding and no
 * compatibility normalisation: `toLowerCase()` maps the Kelvin sign (U+212A) to `k` and `É` to
 * `é`, which merges addresses a mail system, or an upstream identity provider, keeps distinct,
 * so registering `\u212Aate@example.com` upstream would sign in as `kate@example.com`. Domain
 * names are case-insensitive only in ASCII too (RFC 4343), and internationalised ones arrive
 * as distinct strings we must not unify.
 *
 * @example emailKey('Ada@Example.COM') // 'ada@example.com'
 * @example emailKey('\u212Aate@example.com') === emailKey('kate@example.com') // false
 * @see https://www.rfc-editor.org/rfc/rfc5321#section-2.4
 */
export function emailKey(email: string): string {
  return email.replace(/[A-Z]+/g, (s) => s.toLowerCase())
}
