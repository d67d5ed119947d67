import type { AddressInfo } from 'node:net'
import express from 'express'
import { evergreen, requireSession } from './express.js'
import { adapterContract, forwardTo } from './test-support/adapter-contract.js'

adapterContract('Express', async (web) => {
  const app = express()
  // A body parser before the middleware: the logout form must still be read from req.body.
  app.use(express.urlencoded({ extended: false }))
  const auth = evergreen(web)
  app.use(auth)
  app.get('/', (req, res) => void res.type('text').send(`home:${req.evergreen?.sub ?? 'anonymous'}`))
  app.get('/api/me', requireSession(auth), (req, res) => void res.json({ sub: req.evergreen!.sub }))
  app.get('/dashboard', requireSession(auth), (req, res) => void res.type('text').send(`dashboard:${req.evergreen!.sub}`))
  app.get('/stream', requireSession(auth), (_req, res) => {
    res.write('a')
    setTimeout(() => res.end('b'), 5)
  })
  app.get('/go', requireSession(auth), (_req, res) => res.redirect('/elsewhere'))
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { handler: forwardTo((server.address() as AddressInfo).port), close: () => new Promise((resolve) => server.close(() => resolve())) }
})
