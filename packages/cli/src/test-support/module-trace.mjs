// Loaded with `node --import` by tests that check what a command loads: prints every module URL
// the process resolves to stderr as `module <url>`, when EVERGREEN_MODULE_TRACE is set.
import { register } from 'node:module'

if (process.env.EVERGREEN_MODULE_TRACE) {
  register(
    'data:text/javascript,' +
      encodeURIComponent(
        'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write(`module ${r.url}\\n`); return r }',
      ),
  )
}
