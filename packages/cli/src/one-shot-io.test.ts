import { expect, test } from 'vitest'
import { writeAll } from './one-shot-io.js'

// A plain `evergreen token` writes stdout with writeSync (one-shot-io.ts); whatever writeSync
// cannot write must reach the stream, in order and whole.

const decode = (parts: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(parts))

/** A writer that takes at most `chunk` bytes a call and throws `failAt` once `failAt` bytes are in. */
function writer(chunk: number, failAt = Infinity, code = 'EAGAIN') {
  const written: Uint8Array[] = []
  let total = 0
  const write = (bytes: Uint8Array, offset: number) => {
    if (total >= failAt) throw Object.assign(new Error(code), { code })
    const part = bytes.subarray(offset, offset + Math.min(chunk, failAt - total))
    written.push(part)
    total += part.length
    return part.length
  }
  return { write, written }
}

test('short writes are continued until all is written; the stream is not touched', () => {
  const w = writer(3)
  const fallback: Uint8Array[] = []
  writeAll('eyJ.token.sig ✓\n', w.write, (rest) => fallback.push(rest), 'linux')
  expect(decode(w.written)).toBe('eyJ.token.sig ✓\n')
  expect(fallback).toEqual([])
})

test('EAGAIN or EPIPE part-way: the stream gets exactly the rest', () => {
  for (const code of ['EAGAIN', 'EPIPE']) {
    const w = writer(4, 6, code)
    const fallback: Uint8Array[] = []
    writeAll('0123456789\n', w.write, (rest) => fallback.push(rest), 'linux')
    expect(decode(w.written), code).toBe('012345')
    expect(decode(fallback), code).toBe('6789\n')
  }
})

test('on Windows all of it goes to the stream', () => {
  const w = writer(100)
  const fallback: Uint8Array[] = []
  writeAll('token\n', w.write, (rest) => fallback.push(rest), 'win32')
  expect(w.written).toEqual([])
  expect(decode(fallback)).toBe('token\n')
})
