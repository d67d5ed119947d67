import { expect, test } from 'vitest'
import { browserCommand, openBrowser } from './open-browser.js'

const URL_ = 'https://auth.example.com/device?user_code=BCDF-GHJK&x=1'

test('macOS open, Windows start (quoted, so & stays in the URL), xdg-open only with a display', () => {
  expect(browserCommand(URL_, { platform: 'darwin', env: {} })).toEqual({ file: 'open', args: [URL_] })
  expect(browserCommand(URL_, { platform: 'win32', env: {} })).toEqual({ file: 'cmd.exe', args: ['/d', '/s', '/c', `start "" "${URL_}"`], verbatim: true })
  expect(browserCommand(URL_, { platform: 'linux', env: { DISPLAY: ':0' } })).toEqual({ file: 'xdg-open', args: [URL_] })
  expect(browserCommand(URL_, { platform: 'linux', env: { WAYLAND_DISPLAY: 'wayland-0' } })).toEqual({ file: 'xdg-open', args: [URL_] })
})

test('no display, CI, or not an http(s) URL: no browser, and why', () => {
  expect(browserCommand(URL_, { platform: 'linux', env: {} })).toEqual({ unavailable: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' })
  expect(browserCommand(URL_, { platform: 'darwin', env: { CI: 'true' } })).toEqual({ unavailable: 'running in CI' })
  expect(browserCommand('file:///etc/passwd', { platform: 'darwin', env: {} })).toEqual({ unavailable: 'not an http(s) URL' })
})

test('an opener that is not installed resolves false, never throws', async () => {
  expect(await openBrowser(URL_, { platform: 'linux', env: { DISPLAY: ':0', PATH: '/nonexistent' } })).toBe(false)
  expect(await openBrowser(URL_, { platform: 'linux', env: {} })).toBe(false)
})
