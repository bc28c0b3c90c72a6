/**
 * @module Where the benchmarked gateway's request log goes: an HTTP service standing in for the
 * Cloudflare Queue (workerd delivers each `LOG_QUEUE.send()` as a `POST /message` to it). It
 * accepts every message, or — set down — drops every connection, which is what the Worker sees
 * when its Queue cannot take messages. ClickHouse sits behind the Queue's consumer, so this is as
 * close as the request path ever gets to it.
 */
import { createServer } from 'node:http'

export type LogSink = {
  /** `host:port`, for `startGateway({ queues: { LOG_QUEUE: address } })`. */
  address: string
  received(): number
  setDown(down: boolean): void
  close(): Promise<void>
}

export async function startLogSink(): Promise<LogSink> {
  let received = 0
  let down = false
  const server = createServer((req, res) => {
    if (down) {
      req.socket.destroy()
      return
    }
    req.resume()
    req.on('end', () => {
      received++
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    address: `127.0.0.1:${String(port)}`,
    received: () => received,
    setDown(value) {
      down = value
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  }
}
