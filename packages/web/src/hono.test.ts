import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import { evergreen, requireSession } from './hono.js'
import { adapterContract } from './test-support/adapter-contract.js'

adapterContract('Hono', async (web) => {
  const app = new Hono()
  app.use(evergreen(web))
  app.get('/', (c) => c.text(`home:${c.get('evergreen')?.sub ?? 'anonymous'}`))
  app.get('/api/me', requireSession(), (c) => c.json({ sub: c.get('evergreen')!.sub }))
  app.get('/dashboard', requireSession(), (c) => c.text(`dashboard:${c.get('evergreen')!.sub}`))
  app.get('/stream', requireSession(), (c) =>
    stream(c, async (s) => {
      await s.write('a')
      await s.write('b')
    }),
  )
  // Response.redirect() has immutable headers: the adapter must still add the cookies.
  app.get('/go', requireSession(), () => Response.redirect('http://127.0.0.1:3999/elsewhere', 302))
  return { handler: (req) => Promise.resolve(app.fetch(req)), close: async () => {} }
})
