// Bundles a plain `evergreen token` (dist/token-entry.js, as tsc wrote it) into dist/token-fast.js,
// the file the bin shim loads for `token` (docs/architecture.md "CLI start-up"). Run by the root
// `npm run build` after `tsc -b`; the rest of dist/ is tsc's and stays as it is.
//
// One file for the whole path of a valid stored token: every module a plain `token` imports
// statically, from @evergreen/cli, /client and /core, goes into it; Node built-ins stay imports.
// What only some runs need — DPoP signing (jose), --json's helpers, the error messages, the lock
// and keyring packages — stays behind its dynamic import, as separate chunks in dist/token-fast/
// or the packages themselves, so a plain `token` never reads or compiles it.
import { rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rolldown } from 'rolldown'

const DIST = fileURLToPath(new URL('../dist/', import.meta.url))
const ENTRY = 'token-fast.js'
const CHUNKS = 'token-fast'
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const BUILTINS = new Set(builtinModules)

/** @evergreen/* and the files it is made of are bundled; anything else (built-ins, jose, …) is not. */
const external = (id) => !(id.startsWith('.') || isAbsolute(id) || id.startsWith('@evergreen/'))

rmSync(DIST + ENTRY, { force: true })
rmSync(DIST + CHUNKS, { recursive: true, force: true })
const bundle = await rolldown({
  input: DIST + 'token-entry.js',
  platform: 'node',
  cwd: REPO,
  external,
  // The entry chunk may export more than runPlainToken: the lazy chunks import the code they share
  // with it from it, rather than from a third chunk every run would load.
  preserveEntrySignatures: 'allow-extension',
})
try {
  const { output } = await bundle.write({
    dir: DIST,
    format: 'es',
    entryFileNames: ENTRY,
    chunkFileNames: `${CHUNKS}/[name].js`,
    // `$initial`: everything a plain `token` imports statically, in the entry chunk itself.
    codeSplitting: { groups: [{ name: 'token-fast', tags: ['$initial'] }] },
    comments: false,
  })
  check(output)
} finally {
  await bundle.close()
}

/** Fails the build unless the entry is one self-contained file of Evergreen code. */
function check(output) {
  const entry = output.find((c) => c.type === 'chunk' && c.isEntry)
  if (entry?.fileName !== ENTRY) throw new Error(`bundle-token: expected the entry chunk ${ENTRY}, got ${entry?.fileName}`)
  const foreign = entry.moduleIds.filter((id) => !/\/packages\/(cli|client|core)\/dist\//.test(id) && !id.startsWith('\0'))
  const imported = entry.imports.filter((id) => !id.startsWith('node:') && !BUILTINS.has(id))
  if (foreign.length > 0 || imported.length > 0) {
    throw new Error(`bundle-token: ${ENTRY} must hold Evergreen code and import only Node built-ins; it has ${[...foreign, ...imported].join(', ')}`)
  }
  for (const chunk of output) {
    const bundled = chunk.type === 'chunk' ? chunk.moduleIds.filter((id) => id.includes('/node_modules/')) : []
    if (bundled.length > 0) throw new Error(`bundle-token: ${chunk.fileName} bundles ${bundled.join(', ')}; packages other than Evergreen's stay external`)
  }
}
