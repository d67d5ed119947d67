import { ServerError } from '../errors.js'

const TITLES = { NOT_FOUND: 'Not Found', CONFLICT: 'Conflict' } as const
const STATUS = { NOT_FOUND: 404, CONFLICT: 409 } as const

/**
 * An HTTP-level refusal that is not an OAuth protocol failure: a record the operator named does
 * not exist, or a write collides with what is there. The admin API answers these as RFC 9457
 * problem details, so no OAuth `error` code is stretched over them.
 *
 * @example throw new HttpProblem('NOT_FOUND', 'user not found')
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
export class HttpProblem extends ServerError<keyof typeof STATUS> {
  get status(): number {
    return STATUS[this.code]
  }
  get title(): string {
    return TITLES[this.code]
  }
}

/**
 * The `application/problem+json` answer for a {@link HttpProblem}. `type` is `about:blank`, so
 * `title` is the status phrase (RFC 9457 §4.2.1) and `detail` says which record.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9457#section-3.1
 */
export function problemResponse(problem: HttpProblem): Response {
  return new Response(
    JSON.stringify({ type: 'about:blank', title: problem.title, status: problem.status, detail: problem.message }),
    { status: problem.status, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' } },
  )
}
