/** @module Loopback ports for the test servers: a free one, and listening on one. */
import { createServer, type Server } from 'node:net'

/** Starts `server` on a free 127.0.0.1 port and resolves with the port. */
export async function listenOnLoopback(
  server: Pick<Server, 'listen' | 'once' | 'address'>,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  if (port === 0) throw new Error('the server has no port')
  return port
}

/** A port that was free a moment ago, for a server started by another process. */
export async function freePort(): Promise<number> {
  const server = createServer()
  const port = await listenOnLoopback(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}
