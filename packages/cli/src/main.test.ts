import { afterEach, expect, test } from 'vitest'
import { killAllChildren, runCli, runFile } from './test-support/cli-process.js'

// The installed entry points: the bin shim, and the workspace link npx resolves.

afterEach(async () => {
  await killAllChildren()
})

test('evergreen --help lists serve and admin', async () => {
  const r = await runCli(['--help'])
  expect(r.code).toBe(0)
  // Help is for a person, so it goes to stderr; stdout stays clean for data.
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/^\s+serve\b/m)
  expect(r.stderr).toMatch(/^\s+admin\b/m)
})

test('evergreen admin --help lists every admin command group', async () => {
  const r = await runCli(['admin', '--help'])
  expect(r.code).toBe(0)
  for (const group of ['users', 'clients', 'tokens', 'sessions', 'audit', 'keys']) expect(r.stderr).toMatch(new RegExp(`^\\s+${group}\\b`, 'm'))
  expect(r.stderr).toContain('EVERGREEN_ADMIN_KEY')
})

test('npx from the repository root resolves `evergreen` to this CLI', async () => {
  // `npx --no evergreen --help` would not test this: npx's argument shim takes `evergreen` as the
  // value of `--no` and then shows npm's own help. `--` ends npx's options, as npm documents.
  const r = await runFile('npx', ['--no', '--', 'evergreen', '--help'], {}, 60_000)
  expect(r.code).toBe(0)
  expect(r.stderr).toContain('Usage: evergreen [options] [command]')
  expect(r.stderr).toMatch(/^\s+admin\b/m)
})
