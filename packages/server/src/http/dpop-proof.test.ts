import { afterAll, expect, test } from 'vitest'
import { createDpopKey } from '../test-support/dpop-key.js'
import { createClock, createTestService, json, mint, refresh, seedUserAndClient, type TestService } from '../test-support/harness.js'
import { describePostgres, dropSchema, freshSchemaName, postgresUrl } from '../test-support/postgres.js'
import { PostgresStore } from '../store/postgres.js'

// Two nodes of one deployment (one PostgreSQL, one EVERGREEN_SECRET): a DPoP proof is accepted
// once across both (the jti replay cache is the store), and a nonce minted by one is accepted by
// the other (nonces are derived from the secret, no shared state).

describePostgres('DPoP across nodes', () => {
  const schema = freshSchemaName()
  const nodes: TestService[] = []

  afterAll(async () => {
    for (const node of nodes) await node.close()
    await dropSchema(postgresUrl, schema)
  })

  test('a proof used on node A is refused on node B; a nonce from node B is good on node A', async () => {
    const clock = createClock()
    const env = { EVERGREEN_DPOP_NONCE: 'true' }
    for (let i = 0; i < 2; i++) {
      nodes.push(await createTestService({ clock, env, store: new PostgresStore({ connectionString: postgresUrl, schema, max: 2 }) }))
    }
    const [a, b] = nodes as [TestService, TestService]
    const { userId, clientId } = await seedUserAndClient(a)
    const session = await mint(a, userId, clientId)
    const key = await createDpopKey(clock.now)

    // No DPoP header at all: nothing to challenge, the unbound session refreshes as before.
    const next = await json<{ refresh_token: string }>(await refresh(b, clientId, session.refresh_token))
    // Node B hands out the nonce; node A accepts it.
    const noNonce = await b.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: next.refresh_token }, { dpop: await key.proof() })
    expect(await json(noNonce.clone(), 400)).toMatchObject({ error: 'use_dpop_nonce' })
    const nonce = noNonce.headers.get('dpop-nonce')!

    const proof = await key.proof({ nonce })
    const onA = await a.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: next.refresh_token }, { dpop: proof })
    const rotated = await json<{ refresh_token: string }>(onA)

    // The same proof on node B: already used, whatever node saw it first.
    const replay = await b.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: rotated.refresh_token }, { dpop: proof })
    expect(await json(replay, 400)).toMatchObject({ error: 'invalid_dpop_proof' })
    // The control: a fresh proof with the same nonce goes through on B, so only the jti was wrong.
    const fresh = await b.form('/oauth/token', { grant_type: 'refresh_token', client_id: clientId, refresh_token: rotated.refresh_token }, { dpop: await key.proof({ nonce }) })
    expect(fresh.status).toBe(200)
  })
})
