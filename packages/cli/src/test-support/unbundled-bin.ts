import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { BIN } from './cli-process.js'
import { tmp } from './session-server.js'

/** dist/token-fast.js, the bundle the bin shim runs a plain `evergreen token` from. */
export const TOKEN_FAST = fileURLToPath(new URL('../../dist/token-fast.js', import.meta.url))
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url))
/** `node --import` it with EVERGREEN_MODULE_TRACE=1 set: every module the process resolves, on stderr. */
export const MODULE_TRACE = fileURLToPath(new URL('./module-trace.mjs', import.meta.url))

/**
 * The real bin shim in a copy of the package's layout whose dist/ has main.js (re-exporting the
 * built one) and no token-fast.js: the CLI as a build without the bundle runs it, for comparing
 * the bundle with main.js and for checking the shim's fallback. Removed by removeTmpDirs.
 */
export function unbundledBin(): string {
  const root = tmp('evergreen-cli-unbundled-')
  mkdirSync(join(root, 'bin'))
  mkdirSync(join(root, 'dist'))
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n')
  copyFileSync(BIN, join(root, 'bin', 'evergreen.js'))
  writeFileSync(join(root, 'dist', 'main.js'), `export * from ${JSON.stringify(pathToFileURL(MAIN).href)}\n`)
  return join(root, 'bin', 'evergreen.js')
}
