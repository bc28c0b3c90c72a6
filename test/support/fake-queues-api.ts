/**
 * @module A stand-in for Cloudflare's Queues REST API pull consumer (which cannot run here), for
 * `npm run logs:replay`. It follows the documented contract (test/fixtures/cloudflare/
 * pull-consumers.md, from developers.cloudflare.com/queues/configuration/pull-consumers):
 *
 * - `POST /accounts/<account>/queues/<queue>/messages/pull` with `{ batch_size?, visibility_timeout_ms? }`
 *   → `{ success, errors, messages, result: { messages: [{ body, id, timestamp_ms, attempts,
 *   metadata, lease_id }] } }`; `json` bodies base64-encoded; at most 100 per pull; leased
 *   messages are not handed out again until acknowledged, retried or the lease expires;
 * - `POST …/messages/ack` with `{ acks: [{ lease_id }], retries: [{ lease_id, delay_seconds? }] }`
 *   → `{ success, result: { ackCount, retryCount, warnings } }`;
 * - `Authorization: Bearer <token>` required (403 otherwise); unknown account or queue → 404.
 *
 * Requests that break the contract are recorded in `violations`, so a test can assert none.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { listenOnLoopback } from './net.ts'

type Stored = {
  id: string
  body: string
  contentType: 'json' | 'bytes'
  attempts: number
  leasedUntil: number
  lease: string
}

export type FakeQueuesApi = {
  /** The API base, as `CLOUDFLARE_API_BASE`. */
  url: string
  /**
   * Publishes a message to `queue` (as the dead-letter queue receives it): `bytes` for a
   * `Uint8Array` (a sealed request log message), `json` for anything else.
   */
  publish(queue: string, body: unknown): void
  /** Messages still in `queue`. */
  size(queue: string): number
  readonly violations: readonly string[]
  close(): Promise<void>
}

export async function startFakeQueuesApi(options: {
  account: string
  token: string
}): Promise<FakeQueuesApi> {
  const queues = new Map<string, Stored[]>()
  const violations: string[] = []
  let counter = 0
  const queueOf = (name: string): Stored[] => {
    let q = queues.get(name)
    if (q === undefined) {
      q = []
      queues.set(name, q)
    }
    return q
  }
  type Answer = { status: number; json: unknown }

  const refuse = (status: number, message: string): Answer => {
    violations.push(message)
    return {
      status,
      json: { success: false, errors: [{ code: status, message }], messages: [], result: null },
    }
  }

  const ok = (result: unknown): Answer => ({
    status: 200,
    json: { success: true, errors: [], messages: [], result },
  })

  const answer = (req: IncomingMessage, text: string): Answer => {
    if (req.headers.authorization !== `Bearer ${options.token}`) return refuse(403, 'bad token')
    const match = /^\/accounts\/([^/]+)\/queues\/([^/]+)\/messages\/(pull|ack)$/.exec(req.url ?? '')
    if (req.method !== 'POST' || match === null) {
      return refuse(404, `no route ${req.method ?? ''} ${req.url ?? ''}`)
    }
    const [, account, queueName = '', action] = match
    if (account !== options.account) return refuse(404, 'unknown account')
    if (req.headers['content-type'] !== 'application/json') {
      return refuse(400, 'content-type must be JSON')
    }
    let body: Record<string, unknown>
    try {
      body = JSON.parse(text || '{}') as Record<string, unknown>
    } catch {
      return refuse(400, 'body is not JSON')
    }
    const queue = queueOf(queueName)
    const now = Date.now()
    if (action === 'pull') {
      const size = typeof body.batch_size === 'number' ? body.batch_size : 5
      if (size < 1 || size > 100) return refuse(400, 'batch_size must be 1-100')
      const timeout =
        typeof body.visibility_timeout_ms === 'number' ? body.visibility_timeout_ms : 30_000
      const available = queue.filter((m) => m.leasedUntil <= now).slice(0, size)
      for (const message of available) {
        message.attempts += 1
        message.leasedUntil = now + timeout
        message.lease = `lease-${String(++counter)}`
      }
      return ok({
        messages: available.map((m) => ({
          body: m.body,
          id: m.id,
          timestamp_ms: now,
          attempts: m.attempts,
          metadata: { 'CF-Content-Type': m.contentType },
          lease_id: m.lease,
        })),
      })
    }
    const acks = Array.isArray(body.acks) ? (body.acks as { lease_id?: unknown }[]) : []
    const retries = Array.isArray(body.retries) ? (body.retries as { lease_id?: unknown }[]) : []
    let ackCount = 0
    let retryCount = 0
    for (const ack of acks) {
      const index = queue.findIndex((m) => m.lease === ack.lease_id)
      if (index >= 0) {
        queue.splice(index, 1)
        ackCount++
      } else violations.push(`ack of unknown lease ${String(ack.lease_id)}`)
    }
    for (const retry of retries) {
      const message = queue.find((m) => m.lease === retry.lease_id)
      if (message !== undefined) {
        message.leasedUntil = 0
        retryCount++
      }
    }
    return ok({ ackCount, retryCount, warnings: [] })
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const { status, json } = answer(req, Buffer.concat(chunks).toString())
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    })
  })
  const port = await listenOnLoopback(server)
  return {
    url: `http://127.0.0.1:${String(port)}`,
    publish(queue, body) {
      queueOf(queue).push({
        id: `msg-${String(++counter)}`,
        body: (body instanceof Uint8Array
          ? Buffer.from(body)
          : Buffer.from(JSON.stringify(body))
        ).toString('base64'),
        contentType: body instanceof Uint8Array ? 'bytes' : 'json',
        attempts: 0,
        leasedUntil: 0,
        lease: '',
      })
    },
    size: (queue) => queueOf(queue).length,
    violations,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  }
}
