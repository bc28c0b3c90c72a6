/**
 * @module Where the benchmarked gateway's request log goes: an HTTP service standing in for the
 * Cloudflare Queue behind the `LOG_QUEUE` producer binding. It answers as the Queue service does,
 * decodes every message the way the Queue would hand it to a consumer, and counts log records (one
 * per JSON message, each request's in a sealed one), not requests. Set down, it drops every connection, which is what the Worker sees
 * when its Queue cannot take messages. ClickHouse sits behind the Queue's consumer, so this is as
 * close as the request path ever gets to it.
 *
 * A gateway with `FLOOPY_LOG_KEYS` sends its requests' raw facts sealed, several to a message
 * (`bytes`, `src/logging/facts.ts`); the sink opens them with the same keyring (`BENCH_LOG_KEYS`
 * unless told otherwise) and counts the request id they carry, tagged by their User-Agent — the
 * consumer's reading, without building the record (that is the consumer's work, not the request
 * path's). It opens them when a count is asked for, not as they come: a load run's sends are
 * answered at once, and the seals' JavaScript ChaCha20 runs after the run, off the cores the
 * gateway is measured on. A sealed message it cannot open is a problem, never a record: a bench whose gateway seals under
 * another keyring fails loudly rather than count nothing. Without `FLOOPY_LOG_KEYS` the gateway
 * sends built records as JSON, counted as before.
 *
 * The protocol, as workerd's Queue binding speaks it (`src/workerd/api/queue.c++` in workerd;
 * miniflare's `QueueBrokerObject` serves the same routes; checked against workerd 2026-11-02):
 *
 * - `send(body, { contentType })` is `POST /message`; the body is the serialised message and the
 *   `X-Msg-Fmt` header names its format: `text` (UTF-8), `json`, `bytes` (raw) or `v8` (V8
 *   serialisation, version 15, with its header). Without the header the format is `v8`; with the
 *   `queues_json_messages` compatibility flag (the default since 2024-03-18) a send without a
 *   content type goes out as `json`, header included. `X-Msg-Delay-Secs` carries a delay.
 * - `sendBatch(messages)` is `POST /batch` with `content-type: application/json` and the body
 *   `{"messages":[{"body":"<base64 of the serialised message>","contentType":"json"}, …]}`
 *   (`contentType` absent means `v8`; a message may carry `delaySecs`). Headers
 *   `CF-Queue-Batch-Count`, `CF-Queue-Batch-Bytes` (sum of the serialised bodies) and
 *   `CF-Queue-Largest-Msg` let the service refuse a batch over its limits without parsing it.
 * - The binding accepts only status 200, and parses the answer's body as JSON into
 *   `{ metadata: { metrics: { backlogCount, backlogBytes, oldestMessageTimestamp } } }`, which
 *   `send` and `sendBatch` resolve to (a timestamp of 0 means "none"). An empty body rejects the
 *   promise ("Unexpected end of JSON input"), as does `{}` (no `metadata`). Any other status
 *   rejects with the `CF-Queues-Error-Cause` header's text and the `CF-Queues-Error-Code` header's
 *   code (15000 when absent).
 *
 * Limits are those miniflare applies locally (Cloudflare documents 128 KB per message and 100
 * messages per batch): a message over them is refused, as the Queue would refuse it, so a gateway
 * that outgrows them fails here rather than only in production.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { deserialize } from 'node:v8'
import { loadLogModules } from '../scripts/logs-replay.ts'

/**
 * A keyring for benchmarks (`FLOOPY_LOG_KEYS` of the gateway under test): fixed bytes, no secret.
 * Give it to the gateway's bindings and the sink opens what it seals.
 */
export const BENCH_LOG_KEYS = JSON.stringify({
  current: 'bench',
  keys: { bench: Buffer.from('floopy-bench-log-key-0123456789!').toString('base64') },
})

/** Per message, per batch (count) and per batch (serialised bytes), as miniflare enforces them. */
const maxMessageBytes = 128_000
const maxBatchMessages = 100
const maxBatchBytes = 288_000

type ContentType = 'text' | 'json' | 'bytes' | 'v8'

export type LogSink = {
  /** `host:port`, for `startGateway({ queues: { LOG_QUEUE: address } })`. */
  address: string
  /** Log records taken so far (messages that decoded to a record with a request id not seen
   * before); only those whose `user_agent` is `tag` when one is given. A benchmark tags each run's
   * requests with their User-Agent, which the gateway copies into the record, so a record that
   * arrives late is still counted for the run it belongs to. */
  records(tag?: string): number
  /** Queue requests answered (one per `send`, one per `sendBatch`). */
  requests(): number
  /** What the sink refused or could not read, and records delivered twice; empty when all is
   * well. */
  problems(): readonly string[]
  /**
   * Waits for the records tagged `tag`: until there are `max`, or at least `min` and no new one
   * for `quietMs`, or fewer and none for `lostAfterMs` (records leave the gateway within tens of
   * milliseconds of a response, so a count that is still for this long has stopped), or
   * `limitMs` at most. Resolves to the count then.
   */
  settle(
    tag: string,
    expected: { min: number; max: number },
    timing?: { quietMs?: number; lostAfterMs?: number; limitMs?: number },
  ): Promise<number>
  setDown(down: boolean): void
  close(): Promise<void>
}

/** The Queue's answer to a send: metrics of a queue with no backlog (messages here are counted,
 * not kept), 0 standing for "no oldest message". */
const accepted = JSON.stringify({
  metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: 0 } },
})

function contentType(value: unknown): ContentType | undefined {
  if (value === undefined || value === null) return 'v8'
  if (typeof value !== 'string') return undefined
  const lower = value.toLowerCase()
  return lower === 'text' || lower === 'json' || lower === 'bytes' || lower === 'v8'
    ? lower
    : undefined
}

/** A message body as the Queue hands it to a consumer. */
function decode(bytes: Buffer, type: ContentType): unknown {
  switch (type) {
    case 'text':
      return bytes.toString('utf8')
    case 'json':
      return JSON.parse(bytes.toString('utf8'))
    case 'bytes':
      return bytes
    case 'v8':
      return deserialize(bytes)
  }
}

/** A request the Queue would refuse, with the status it would answer. */
class Refusal extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.once('end', () => {
      resolve(Buffer.concat(chunks))
    })
    req.once('error', reject)
  })
}

const headerNumber = (req: IncomingMessage, name: string): number => {
  const value = req.headers[name]
  return typeof value === 'string' ? Number(value) : Number.NaN
}

/** The messages of one Queue request, each as its serialised bytes and format. */
function messagesOf(req: IncomingMessage, body: Buffer): { bytes: Buffer; type: ContentType }[] {
  if (req.url === '/message') {
    const type = contentType(req.headers['x-msg-fmt'])
    if (type === undefined)
      throw new Refusal(400, `unknown X-Msg-Fmt ${String(req.headers['x-msg-fmt'])}`)
    if (body.length > maxMessageBytes) {
      throw new Refusal(
        413,
        `message of ${String(body.length)} bytes is over ${String(maxMessageBytes)}`,
      )
    }
    return [{ bytes: body, type }]
  }
  if (req.url !== '/batch') throw new Refusal(404, `no route ${req.method ?? ''} ${req.url ?? ''}`)
  if (headerNumber(req, 'cf-queue-batch-count') > maxBatchMessages) {
    throw new Refusal(413, `batch of ${String(req.headers['cf-queue-batch-count'])} messages`)
  }
  if (headerNumber(req, 'cf-queue-batch-bytes') > maxBatchBytes) {
    throw new Refusal(413, `batch of ${String(req.headers['cf-queue-batch-bytes'])} bytes`)
  }
  if (headerNumber(req, 'cf-queue-largest-msg') > maxMessageBytes) {
    throw new Refusal(413, `message of ${String(req.headers['cf-queue-largest-msg'])} bytes`)
  }
  const parsed: unknown = JSON.parse(body.toString('utf8'))
  const messages = (parsed as { messages?: unknown } | null)?.messages
  if (!Array.isArray(messages)) throw new Refusal(400, 'a batch without a messages array')
  return messages.map((message: unknown) => {
    const { body: encoded, contentType: named } = (message ?? {}) as Record<string, unknown>
    const type = contentType(named)
    if (typeof encoded !== 'string' || type === undefined) {
      throw new Refusal(400, `malformed batch message ${JSON.stringify(message).slice(0, 200)}`)
    }
    return { bytes: Buffer.from(encoded, 'base64'), type }
  })
}

export type LogSinkOptions = {
  /** The gateway's `FLOOPY_LOG_KEYS`, to open sealed messages (default `BENCH_LOG_KEYS`). */
  readonly logKeys?: string
}

export async function startLogSink(options: LogSinkOptions = {}): Promise<LogSink> {
  const modules = await loadLogModules()
  const keys = modules.parseLogKeys(options.logKeys ?? BENCH_LOG_KEYS)
  /** A decoded message as the fields the sink counts by: a record's, or each sealed facts'. */
  const fieldsOf = (message: unknown): unknown[] => {
    if (!(message instanceof Uint8Array) || !modules.isSealed(message)) return [message]
    try {
      return modules
        .openAllFacts(keys, message)
        .map((facts) => ({ request_id: facts.requestId, user_agent: facts.userAgent }))
    } catch (error) {
      return [{ sealed: error instanceof Error ? error.message : String(error) }]
    }
  }
  const seen = new Set<string>()
  const byTag = new Map<string, number>()
  const problems: string[] = []
  let requests = 0
  let down = false
  /** Messages taken and not yet read: see `drain`. */
  let pending: unknown[] = []

  /**
   * Reads the messages taken so far: opens the sealed ones and counts their records. The Queue's
   * consumer does this elsewhere, after the producer's send has been answered; here it waits until
   * a count is asked for (after a load run), so opening the seals (JavaScript ChaCha20 in this
   * process) does not take the cores the gateway under measurement runs on, nor delay the answer
   * its send waits for.
   */
  const drain = (): void => {
    const messages = pending
    pending = []
    for (const record of messages.flatMap(fieldsOf)) {
      const { request_id: id, user_agent: agent } = (record ?? {}) as Record<string, unknown>
      if (typeof id !== 'string' || id === '') {
        problems.push(`a message that is not a log record: ${JSON.stringify(record).slice(0, 200)}`)
      } else if (seen.has(id)) {
        problems.push(`record ${id} delivered twice`)
      } else {
        seen.add(id)
        const tag = typeof agent === 'string' ? agent : ''
        byTag.set(tag, (byTag.get(tag) ?? 0) + 1)
      }
    }
  }

  const take = (req: IncomingMessage, body: Buffer): void => {
    if (req.method !== 'POST') throw new Refusal(405, `method ${req.method ?? ''}`)
    for (const { bytes, type } of messagesOf(req, body)) pending.push(decode(bytes, type))
  }

  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    requests++
    try {
      take(req, body)
      res.writeHead(200, { 'content-type': 'application/json' }).end(accepted)
    } catch (error) {
      const refusal =
        error instanceof Refusal ? error : new Refusal(400, `unreadable: ${String(error)}`)
      problems.push(`refused ${req.method ?? ''} ${req.url ?? ''}: ${refusal.message}`)
      // workerd's binding puts this header's text into the error it throws.
      res
        .writeHead(refusal.status, { 'cf-queues-error-cause': refusal.message.slice(0, 200) })
        .end(refusal.message)
    }
  }

  const server = createServer((req, res) => {
    if (down) {
      req.socket.destroy()
      return
    }
    readBody(req).then(
      (body) => {
        answer(req, res, body)
      },
      () => {
        req.socket.destroy()
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  const settle: LogSink['settle'] = async (
    tag,
    { min, max },
    { quietMs = 250, lostAfterMs = 2_000, limitMs = 30_000 } = {},
  ) => {
    const count = (): number => {
      drain()
      return byTag.get(tag) ?? 0
    }
    const deadline = Date.now() + limitMs
    let last = count()
    let stillSince = Date.now()
    for (;;) {
      const now = Date.now()
      const still = now - stillSince
      if (last >= max || now >= deadline) return last
      if (last >= min ? still >= quietMs : still >= lostAfterMs) return last
      await new Promise((resolve) => setTimeout(resolve, 10))
      if (count() !== last) {
        last = count()
        stillSince = Date.now()
      }
    }
  }

  return {
    address: `127.0.0.1:${String(port)}`,
    records(tag) {
      drain()
      return tag === undefined ? seen.size : (byTag.get(tag) ?? 0)
    },
    requests: () => requests,
    problems() {
      drain()
      return problems
    },
    settle,
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
