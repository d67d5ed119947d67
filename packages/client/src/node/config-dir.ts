import { homedir } from 'node:os'
import { join } from 'node:path'

type Env = Record<string, string | undefined>

/**
 * Where the CLI keeps its sessions and locks: `EVERGREEN_CONFIG_DIR`, else
 * `$XDG_CONFIG_HOME/evergreen`, else `%APPDATA%\evergreen` on Windows, else `~/.config/evergreen`.
 *
 * @example resolveConfigDir({ XDG_CONFIG_HOME: '/home/me/.config' }) // '/home/me/.config/evergreen'
 */
export function resolveConfigDir(env: Env = process.env, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  if (env.EVERGREEN_CONFIG_DIR) return env.EVERGREEN_CONFIG_DIR
  // XDG Base Directory spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/')) return join(env.XDG_CONFIG_HOME, 'evergreen')
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'evergreen')
  return join(home, '.config', 'evergreen')
}
