#!/usr/bin/env node
// A committed shim so the bin link exists at install time, before the build has produced dist/.
//
// A plain `evergreen token` runs from dist/token-fast.js: the build bundles that one command into a
// single file, because resolving and linking the ~30 modules it is made of was most of what it
// added to Node's own start-up (docs/architecture.md "CLI start-up"). It answers undefined for any other spelling of `token`
// (help, a typo), which main.js then parses; a build without the bundle runs main.js for all of it.
const fast = process.argv[2] === 'token' ? await import('../dist/token-fast.js').catch(unlessMissing) : undefined
process.exitCode = (await fast?.runPlainToken(process.argv)) ?? (await (await import('../dist/main.js')).main(process.argv))

function unlessMissing(err) {
  // Only the bundle itself can be missing: its own imports are Node built-ins. (Older Node
  // releases may not set `url`.)
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && (err.url === undefined || err.url === new URL('../dist/token-fast.js', import.meta.url).href)) return undefined
  throw err
}
