import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { PageClient } from '../test-support/browser-client.js'
import { createTestService, json, mint, type TestService } from '../test-support/harness.js'

// Issue "Agents act for people": /settings/sessions shows the agents acting for the person under
// the session they act from, and revoking that session there says how many go with it.

const PASSWORD = 'correct horse battery'
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const WORKSPACE = 'https://workspace.example/api'

let svc: TestService
beforeEach(async () => {
  svc = await createTestService()
})
afterEach(async () => {
  await svc?.close()
})

async function agent(clientId: string, name: string, subjectClients: string[]) {
  return json<{ client_id: string; client_secret: string }>(await svc.admin('POST', '/clients', {
    client_id: clientId, name, token_endpoint_auth_method: 'client_secret_post', grant_types: [EXCHANGE, 'refresh_token'],
    token_exchange: { subject_clients: subjectClients, allowed_resources: [WORKSPACE] },
  }), 201)
}

async function exchange(client: { client_id: string; client_secret: string }, subject: string, extra: Record<string, string> = {}) {
  return json<{ access_token: string; refresh_token: string }>(await svc.form('/oauth/token', {
    grant_type: EXCHANGE, client_id: client.client_id, client_secret: client.client_secret, subject_token: subject, subject_token_type: AT, ...extra,
  }))
}

describe('delegated sessions on /settings/sessions', () => {
  test('are listed under their parent with the agent, scope and resource; revoking the parent ends child and grandchild', async () => {
    const userId = (await json<{ id: string }>(await svc.admin('POST', '/users', { email: 'ada@example.com', password: PASSWORD }), 201)).id
    await svc.admin('POST', '/clients', {
      client_id: 'app', name: 'Workspace app', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none',
      allowed_scopes: ['read', 'write'], allowed_audiences: [WORKSPACE],
    })
    const person = await mint(svc, userId, 'app', { scope: 'read write' })
    const research = await agent('research', 'Research agent', ['app'])
    const child = await exchange(research, person.access_token, { scope: 'read write', resource: WORKSPACE })
    const helper = await agent('helper', 'Helper agent', ['research'])
    const grandchild = await exchange(helper, child.access_token, { scope: 'read' })

    const browser = new PageClient({ fetch: (path, init) => svc.fetch(path, init) })
    expect((await browser.login('ada@example.com', PASSWORD)).status).toBe(303)
    const text = await (await browser.get('/settings/sessions')).text()
    const childSid = decodeJwt(child.access_token).sid as string
    const grandSid = decodeJwt(grandchild.access_token).sid as string
    // Depth-first: the person's session, then the agent under it, then the agent under that.
    const order = [person.session_id, childSid, grandSid].map((id) => text.indexOf(`data-session-id="${id}"`))
    expect(order.every((i) => i > 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    expect(text).toContain(`data-parent-id="${person.session_id}"`)
    expect(text).toContain('Research agent')
    expect(text).toContain('Helper agent')
    expect(text).toContain('scope: read write · resource: <code>https://workspace.example/api</code>')
    expect(text).toContain('also ends 2 agent sessions')

    const res = await browser.post('/settings/sessions/revoke', { session_id: person.session_id })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/settings/sessions?revoked=one&with=2')
    expect(await (await browser.get('/settings/sessions?revoked=one&with=2')).text()).toContain('and with it 2 delegated agent sessions acting under it')
    for (const sid of [person.session_id, childSid, grandSid]) {
      expect(await json(await svc.admin('GET', `/sessions/${sid}`))).toMatchObject({ active: false, revoked_reason: 'revoked_by_user' })
    }
    const refused = await svc.form('/oauth/token', {
      grant_type: 'refresh_token', client_id: helper.client_id, client_secret: helper.client_secret, refresh_token: grandchild.refresh_token,
    })
    expect(await json(refused, 400)).toMatchObject({ error: 'invalid_grant' })
  })
})
