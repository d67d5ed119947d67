import { writeSync } from 'node:fs'
import { processIo, type Io } from './io.js'

/**
 * {@link processIo} with stdout written straight to fd 1, for a command that writes stdout once
 * and exits: a plain `evergreen token` (token-entry.ts). Setting up `process.stdout` — a net or
 * tty stream, by what fd 1 is — was a few per cent of that command's start-up
 * (docs/architecture.md "CLI start-up"). The bytes are the same; stderr is the stream as ever.
 */
export const oneShotIo: Io = {
  out: (text) => writeAll(
    text.endsWith('\n') ? text : text + '\n',
    (bytes, offset) => writeSync(1, bytes, offset),
    (rest) => void process.stdout.write(rest),
  ),
  err: processIo.err,
}

/**
 * Writes `text` with `write` (bytes written, or a throw) until done. What it could not write — a
 * full non-blocking pipe (EAGAIN), a reader gone (EPIPE), any error — goes to `fallback`, the
 * stream, which then waits or fails exactly as a plain `process.stdout.write` would. On Windows
 * all of it goes to the stream, which converts text for the console.
 */
export function writeAll(text: string, write: (bytes: Uint8Array, offset: number) => number, fallback: (rest: Uint8Array) => void, platform = process.platform): void {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  if (platform !== 'win32') {
    try {
      while (offset < bytes.length) offset += write(bytes, offset)
    } catch {
      // The stream takes over from here.
    }
  }
  if (offset < bytes.length) fallback(bytes.subarray(offset))
}
