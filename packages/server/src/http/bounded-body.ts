/**
 * Reads a body stream to the end, refusing it once it passes `maxBytes`: a declared
 * `content-length` can lie or be absent, so the count is kept while reading, and the stream is
 * cancelled the moment it goes over. Returns undefined when it was too large.
 *
 * @example const bytes = await readBounded(req.body, 64 * 1024)
 */
export async function readBounded(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | undefined> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      return undefined
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}
