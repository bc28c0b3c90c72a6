/**
 * @module A fake OpenAI-compatible provider for the benchmark: as cheap as a Node HTTP server can
 * answer, so that what the benchmark sees is the gateway's cost, not the upstream's. It does no
 * validation and parses a request body only to read the few switches below.
 *
 * It runs in its own process (`startUpstream()` forks this file): sharing the load generator's
 * event loop would make every upstream response wait behind autocannon's bookkeeping and the other
 * way round, blurring both measurements.
 *
 * Endpoints (all on 127.0.0.1, keep-alive):
 * - `POST /v1/chat/completions`: a fixed `chat.completion` with `usage`; with `stream: true`, SSE:
 *   a first chunk, then — after `x-bench-gap-ms` (default 5 ms) — the rest of 20 content chunks
 *   (or `max_tokens` of them), a usage chunk when `stream_options.include_usage`, `data: [DONE]`.
 *   The gap is what makes time-to-first-byte meaningful: a gateway that buffers the stream delivers
 *   its first byte only after the gap. `x-bench-bytes` sets the stream's total size instead.
 *   The events after the first go out in writes of about `x-bench-batch-bytes` (65536), each
 *   write one HTTP chunk; `1` writes every event as its own chunk, as a provider streams tokens.
 * - `POST /v1/embeddings`: one embedding per input with `dimensions` numbers each (default 1536),
 *   or a body of about `x-bench-bytes` bytes (header or `?bytes=`), for memory measurements.
 * - `GET /v1/models`.
 * - A chat model whose name holds `guard` answers `safe`: the firewall's safety model.
 *
 * Two chat model names fail on purpose, for the routing benchmark's fallback hops: `bench-down`
 * answers every request with a 503, and `bench-flaky` answers 503 to 1 of every 3 requests
 * (a fixed pattern: no run of 10 or more requests is half failures, so a circuit breaker that
 * opens at half of at least 10 stays closed, and every failure is a hop).
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export type Upstream = { url: string; pid: number; close(): Promise<void> }

const created = 1_700_000_000
/** Every embedding number is this literal: ten bytes with its comma, so sizes are predictable. */
const embeddingNumber = '0.0123456'
const bytesPerNumber = embeddingNumber.length + 1
const defaultChunks = 20
const defaultGapMs = 5

/** Request bodies as far as the upstream looks at them; nothing is validated. */
type Body = Record<string, unknown>

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.once('end', () => {
      resolve(Buffer.concat(chunks).toString())
    })
    req.once('error', reject)
  })
}

function parseObject(text: string): Body {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? (value as Body) : {}
  } catch {
    return {}
  }
}

function positiveInt(value: unknown): number | undefined {
  const number = typeof value === 'string' ? Number(value) : value
  return typeof number === 'number' && Number.isInteger(number) && number > 0 ? number : undefined
}

function sendJson(res: ServerResponse, status: number, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

function modelOf(body: Body, fallback: string): string {
  return typeof body.model === 'string' ? body.model : fallback
}

const usage = { prompt_tokens: 12, completion_tokens: 20, total_tokens: 32 }

function chatCompletion(model: string): string {
  // A safety model (the firewall's `bench-guard`) judges every prompt safe.
  const content = model.includes('guard') ? 'safe' : 'Hello from the benchmark upstream.'
  return JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created,
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content,
          refusal: null,
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage,
  })
}

function chunkEvent(model: string, delta: object, finishReason: string | null): string {
  const chunk = {
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  }
  return `data: ${JSON.stringify(chunk)}\n\n`
}

async function write(res: ServerResponse, text: string): Promise<void> {
  // Honour back-pressure: a 16 MB stream must not sit in this process's memory when the reader
  // (the gateway) is slower than the writer.
  if (!res.write(text)) await once(res, 'drain')
}

async function streamChat(req: IncomingMessage, res: ServerResponse, body: Body): Promise<void> {
  const model = modelOf(body, 'gpt-4o-mini')
  const token = chunkEvent(model, { content: ' tok' }, null)
  const targetBytes = positiveInt(req.headers['x-bench-bytes'])
  const chunks =
    targetBytes !== undefined
      ? Math.max(1, Math.ceil(targetBytes / Buffer.byteLength(token)))
      : (positiveInt(body.max_tokens) ?? defaultChunks)
  const gapMs = Number(req.headers['x-bench-gap-ms'] ?? defaultGapMs)
  const batchBytes = positiveInt(req.headers['x-bench-batch-bytes']) ?? 65_536
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  })
  res.write(chunkEvent(model, { role: 'assistant', content: '' }, null))
  if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs))
  // Events are written in batches of about 64 KiB by default: one write per 180-byte event makes
  // this process, not the gateway, the bottleneck of a 16 MB stream's CPU figures.
  let batch = ''
  for (let i = 0; i < chunks; i++) {
    batch += token
    if (batch.length >= batchBytes) {
      await write(res, batch)
      batch = ''
    }
  }
  batch += chunkEvent(model, {}, 'stop')
  const options = body.stream_options
  if (
    typeof options === 'object' &&
    options !== null &&
    'include_usage' in options &&
    options.include_usage === true
  ) {
    const usageChunk = {
      id: 'chatcmpl-bench',
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: null,
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: chunks, total_tokens: 12 + chunks },
    }
    batch += `data: ${JSON.stringify(usageChunk)}\n\n`
  }
  batch += 'data: [DONE]\n\n'
  await write(res, batch)
  res.end()
}

const embeddingCache = new Map<string, Buffer>()

/** Embedding responses are built once per shape and reused: building 16 MB of JSON per request
 * would dominate the measurement it is meant to feed. */
function embeddings(model: string, inputs: number, dimensions: number): Buffer {
  const key = `${model}\n${inputs}\n${dimensions}`
  const cached = embeddingCache.get(key)
  if (cached !== undefined) return cached
  const vector = `[${Array.from({ length: dimensions }, () => embeddingNumber).join(',')}]`
  const data = Array.from(
    { length: inputs },
    (_, index) => `{"object":"embedding","index":${index},"embedding":${vector}}`,
  )
  const tokens = inputs * 8
  const body = Buffer.from(
    `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(model)},` +
      `"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`,
  )
  if (embeddingCache.size > 32) embeddingCache.clear()
  embeddingCache.set(key, body)
  return body
}

function embeddingsResponse(req: IncomingMessage, url: URL, body: Body): Buffer {
  const model = modelOf(body, 'text-embedding-3-small')
  const inputs =
    Array.isArray(body.input) && typeof body.input[0] !== 'number' ? body.input.length : 1
  const targetBytes =
    positiveInt(req.headers['x-bench-bytes']) ?? positiveInt(url.searchParams.get('bytes'))
  if (targetBytes === undefined) {
    return embeddings(model, inputs, positiveInt(body.dimensions) ?? 1536)
  }
  // About 60 bytes of envelope per embedding plus 120 for the list; the rest is numbers.
  const perInput = (targetBytes - 120) / inputs - 60
  return embeddings(model, inputs, Math.max(1, Math.floor(perInput / bytesPerNumber)))
}

const models = JSON.stringify({
  object: 'list',
  data: ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'].map((id) => ({
    id,
    object: 'model',
    created,
    owned_by: 'bench',
  })),
})

const unavailable = JSON.stringify({
  error: {
    message: 'The bench upstream is down for this model.',
    type: 'server_error',
    code: null,
  },
})

let flakyCount = 0

/** Whether this request for `model` gets the deliberate 503 (see the module doc). */
function failsOnPurpose(model: string): boolean {
  if (model === 'bench-down') return true
  if (model !== 'bench-flaky') return false
  return flakyCount++ % 3 === 0
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstream')
  const route = url.pathname
  if (req.method === 'POST' && route === '/v1/chat/completions') {
    const body = parseObject(await readBody(req))
    if (failsOnPurpose(modelOf(body, ''))) sendJson(res, 503, unavailable)
    else if (body.stream === true) await streamChat(req, res, body)
    else sendJson(res, 200, chatCompletion(modelOf(body, 'gpt-4o-mini')))
  } else if (req.method === 'POST' && route === '/v1/embeddings') {
    const body = parseObject(await readBody(req))
    sendJson(res, 200, embeddingsResponse(req, url, body))
  } else if (req.method === 'GET' && route === '/v1/models') {
    sendJson(res, 200, models)
  } else {
    req.resume()
    sendJson(res, 404, JSON.stringify({ error: { message: `no route ${req.method} ${route}` } }))
  }
}

/** Serves on 127.0.0.1 (port 0 picks a free one) and resolves with the port. */
export async function serveUpstream(port = 0): Promise<number> {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)))
    })
  })
  // Idle keep-alive sockets from autocannon and from workerd's connection pool must survive the
  // pauses between benchmark phases; Node's 5 s default would close them and add reconnects.
  server.keepAliveTimeout = 120_000
  server.headersTimeout = 121_000
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port assigned')
  return address.port
}

/** Forks this file as the upstream process and resolves once it listens. */
export async function startUpstream(): Promise<Upstream> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = once(child, 'exit')
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port?: unknown }) => {
      if (typeof message.port === 'number') resolve(message.port)
      else reject(new Error('bench upstream sent no port'))
    })
    child.once('exit', () => {
      reject(new Error('bench upstream exited before listening'))
    })
  })
  if (child.pid === undefined) throw new Error('bench upstream has no pid')
  const pid = child.pid
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await exited
    },
  }
}

const invokedPath = process.argv[1]
if (invokedPath !== undefined && path.resolve(invokedPath) === fileURLToPath(import.meta.url)) {
  const port = await serveUpstream(Number(process.env.BENCH_UPSTREAM_PORT ?? 0))
  if (process.send === undefined) {
    console.log(`bench upstream at http://127.0.0.1:${port}`)
  } else {
    process.send({ port })
    // Without its parent the upstream has no purpose; leaving it running would leak a process.
    process.once('disconnect', () => process.exit(0))
  }
}
