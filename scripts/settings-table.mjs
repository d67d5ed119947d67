// Rewrites the settings table in README.md from the server's SETTINGS list (run after a build):
//   node scripts/settings-table.mjs
// settings.test.ts fails when the README misses a setting, so the two cannot drift.
import { readFileSync, writeFileSync } from 'node:fs'
import { SETTINGS } from '../packages/server/dist/settings.js'

const header = '| Environment variable | `evergreen serve` flag | Default | Meaning |\n|---|---|---|---|\n'
const rows = SETTINGS.map((s) => `| ${s.env.map((e) => `\`${e}\``).join(', ')} | \`${s.flag}\` | ${s.defaultText ?? '—'} | ${s.description} |`).join('\n')
const readme = readFileSync('README.md', 'utf8')
const start = readme.indexOf(header)
if (start < 0) throw new Error('settings table header not found in README.md')
let end = start + header.length
while (readme.startsWith('| ', end)) end = readme.indexOf('\n', end) + 1
writeFileSync('README.md', readme.slice(0, start) + header + rows + '\n' + readme.slice(end))
