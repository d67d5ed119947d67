/**
 * Reads a stream (stdin by default) to the end as UTF-8.
 *
 * @example const password = (await readStdin()).replace(/\r?\n$/, '')
 */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8')
}
