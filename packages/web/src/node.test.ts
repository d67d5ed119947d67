import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { evergreenNode } from './node.js'
import { adapterContract, forwardTo } from './test-support/adapter-contract.js'

adapterContract('node:http', async (web) => {
  const server = createServer(
    evergreenNode(web, async (req, res, auth) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      if (path === '/') return void res.end(`home:${auth.session?.sub ?? 'anonymous'}`)
      if (await auth.requireSession()) return
      const sub = auth.session!.sub
      if (path === '/api/me') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ sub }))
      if (path === '/dashboard') return void res.end(`dashboard:${sub}`)
      if (path === '/stream') {
        res.write('a')
        return void setTimeout(() => res.end('b'), 5)
      }
      if (path === '/go') return void res.writeHead(302, { location: '/elsewhere' }).end()
      res.statusCode = 404
      res.end()
    }),
  )
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { handler: forwardTo((server.address() as AddressInfo).port), close: () => new Promise((resolve) => server.close(() => resolve())) }
})
