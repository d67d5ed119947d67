import { spawn } from 'node:child_process'

type Env = Record<string, string | undefined>

/** The program (and its arguments) that opens a URL on this platform. */
export interface BrowserCommand {
  file: string
  args: string[]
  /** Windows: pass args to cmd.exe as written (they are quoted here). */
  verbatim?: boolean
}

/**
 * How to open `url` in the person's browser, or why not: macOS `open`, Windows `start`, elsewhere
 * `xdg-open` — but only with a display (`DISPLAY` / `WAYLAND_DISPLAY`), because on a server or
 * over SSH xdg-open would start a text browser inside the very terminal showing the code.
 *
 * @example browserCommand('https://auth.example.com/device', { platform: 'darwin', env: {} }) // { file: 'open', … }
 */
export function browserCommand(url: string, options: { platform: NodeJS.Platform; env: Env }): BrowserCommand | { unavailable: string } {
  const { platform, env } = options
  if (!/^https?:\/\//i.test(url)) return { unavailable: 'not an http(s) URL' }
  if (env.CI) return { unavailable: 'running in CI' }
  if (platform === 'darwin') return { file: 'open', args: [url] }
  if (platform === 'win32') {
    // `start` is a cmd.exe built-in; the empty title argument keeps a quoted URL from becoming
    // the window title, and quoting keeps cmd from reading `&` in the query as a separator.
    return { file: 'cmd.exe', args: ['/d', '/s', '/c', `start "" "${url.replace(/"/g, '%22')}"`], verbatim: true }
  }
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return { unavailable: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' }
  return { file: 'xdg-open', args: [url] }
}

/**
 * Starts the browser for `url` (the opener gets `env`, PATH included) and resolves true once the opener has started; false when there is
 * no display or the opener is missing. Never rejects and never waits for the browser: a login
 * must not fail, or hang, because a browser could not be shown.
 */
export function openBrowser(url: string, options: { platform: NodeJS.Platform; env: Env }): Promise<boolean> {
  const command = browserCommand(url, options)
  if ('unavailable' in command) return Promise.resolve(false)
  return new Promise((resolve) => {
    try {
      const child = spawn(command.file, command.args, {
        detached: true,
        stdio: 'ignore',
        windowsHide: true,
        env: options.env as NodeJS.ProcessEnv,
        ...(command.verbatim ? { windowsVerbatimArguments: true } : {}),
      })
      child.once('error', () => resolve(false))
      child.once('spawn', () => {
        child.unref()
        resolve(true)
      })
    } catch {
      resolve(false)
    }
  })
}
