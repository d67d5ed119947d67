// Keyset pagination: the cursor is the (sort time, id) of the last item, opaque to callers.
// Keyset rather than OFFSET so a page stays correct while rows are being added.

import { ServerError } from '../errors.js'

export interface CursorPosition {
  at: number
  id: string
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.at}:${position.id}`, 'utf8').toString('base64url')
}

/** Undefined for a cursor this store never produced; callers turn that into a 400. */
export function decodeCursor(cursor: string | undefined): CursorPosition | undefined {
  if (!cursor) return undefined
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const m = /^(\d{1,15}):([\x21-\x7e]{1,200})$/.exec(text)
  if (!m) throw new InvalidCursorError()
  return { at: Number(m[1]), id: m[2]! }
}

/** A list cursor that this service did not hand out (or that was altered). */
export class InvalidCursorError extends ServerError<'INVALID_CURSOR'> {
  constructor() {
    super('INVALID_CURSOR', 'invalid cursor')
    this.name = 'InvalidCursorError'
  }
}

/** Splits a `limit + 1` result into a page and the next cursor. */
export function toPage<T>(rows: T[], limit: number, position: (item: T) => CursorPosition): { items: T[]; next_cursor: string | null } {
  if (rows.length <= limit) return { items: rows, next_cursor: null }
  const items = rows.slice(0, limit)
  return { items, next_cursor: encodeCursor(position(items[items.length - 1]!)) }
}
