import type { Command } from 'commander'
import type { Io } from '../io.js'
import { processSessionDeps, type SessionDeps } from '../session-deps.js'
import { registerLogin } from './login.js'
import { registerLogout } from './logout.js'
import { registerRefresh } from './refresh.js'
import { registerStatus } from './status.js'
import { registerToken } from './token.js'
import { registerWhoami } from './whoami.js'

/**
 * The user commands: login, logout, status, whoami, token, refresh. Each takes --issuer,
 * --profile and --json; flags win over EVERGREEN_ISSUER / EVERGREEN_PROFILE, which win over what
 * is stored, and EVERGREEN_TOKEN overrides the store.
 *
 * @param overrides injected env, fetch, stdin, prompts, browser and clock for in-process tests
 */
export function registerSessionCommands(program: Command, io: Io, overrides: Partial<Omit<SessionDeps, 'io'>> = {}): void {
  const deps = processSessionDeps(io, overrides)
  registerLogin(program, deps)
  registerLogout(program, deps)
  registerStatus(program, deps)
  registerWhoami(program, deps)
  registerToken(program, deps)
  registerRefresh(program, deps)
}
