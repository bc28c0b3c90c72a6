/**
 * @module The demo endpoint: a small OpenAI-compatible server on 127.0.0.1 that `npm run dev`
 * starts when no provider is configured, so a newcomer's first request gets a real answer. The
 * gateway reaches it as the custom provider `demo` (`FLOOPY_CUSTOM_PROVIDERS`, see
 * `demoCustomProviders`), whose one model `echo` is addressed `demo/echo` — a name nobody takes
 * for a real model.
 *
 * It answers the way OpenAI's API does (shapes from OpenAI's OpenAPI document, checked by
 * `test/e2e/demo-provider.test.ts`), deterministically and at once:
 * - `POST /v1/chat/completions`: `Echo: <the last user message>`, as JSON or, with `stream: true`,
 *   as an SSE stream (role chunk, content chunks, finish chunk, the usage chunk with
 *   `choices: []` when `stream_options.include_usage` is true, `data: [DONE]`). With `tools`
 *   (and `tool_choice` not `none`) it calls the chosen or first function once, with arguments
 *   made from its JSON schema; after a `tool` message it answers in text again.
 *   `max_tokens`/`max_completion_tokens` cut the text (`finish_reason: length`). One choice,
 *   whatever `n` asks.
 * - `POST /v1/embeddings`: a unit vector from a hash of each input (16 dimensions, or
 *   `dimensions`), as floats or `encoding_format: base64`.
 * - `GET /v1/models`: `echo`.
 * Tokens are counted as OpenAI's rule of thumb has it: one per four characters.
 */
import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

export const DEMO_PROVIDER_ID = 'demo'
export const DEMO_MODEL = 'echo'
const DEFAULT_DIMENSIONS = 16
const MAX_DIMENSIONS = 4096
const MAX_BODY_BYTES = 16 * 1024 * 1024
/** A fixed `created` for the model card: the demo has no release date. */
const MODEL_CREATED = 1_735_689_600

export type DemoProvider = {
  /** Base URL in the form the OpenAI SDK and `FLOOPY_CUSTOM_PROVIDERS` use, ending in `/v1`. */
  readonly url: string
  close(): Promise<void>
}

/** `FLOOPY_CUSTOM_PROVIDERS` registering the demo endpoint at `url` as provider `demo`. */
export const demoCustomProviders = (url: string): string =>
  JSON.stringify([{ id: DEMO_PROVIDER_ID, baseUrl: url, models: [DEMO_MODEL] }])

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** An OpenAI-shaped error answer (no parameter properties: Node runs this file type-stripped). */
class DemoError extends Error {
  readonly status: number
  readonly type: string
  readonly param: string | null
  readonly code: string | null

  constructor(
    status: number,
    message: string,
    type: string,
    param: string | null = null,
    code: string | null = null,
  ) {
    super(message)
    this.status = status
    this.type = type
    this.param = param
    this.code = code
  }
}

const invalid = (message: string, param: string | null = null): DemoError =>
  new DemoError(400, message, 'invalid_request_error', param)

const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

/** The text of a message's `content`: a string, or the `text` of its parts. */
const textOf = (content: Json | undefined): string => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part) => (isObject(part) && typeof part['text'] === 'string' ? part['text'] : ''))
    .join('')
}

// --- chat -----------------------------------------------------------------------------------

type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } }
type Answer =
  | { kind: 'text'; content: string; finishReason: 'stop' | 'length' }
  | { kind: 'tool'; call: ToolCall }

/** A value of the type `schema` asks for: its `const`, `default` or first `enum` value (or first
 * `anyOf`/`oneOf` alternative), else a placeholder; objects get their required properties. */
const exampleOf = (schema: Json | undefined, depth = 0): Json => {
  if (!isObject(schema) || depth > 8) return null
  if (schema['const'] !== undefined) return schema['const']
  if (schema['default'] !== undefined) return schema['default']
  const values = schema['enum']
  if (Array.isArray(values) && values.length > 0) return values[0] ?? null
  const alternatives = schema['anyOf'] ?? schema['oneOf']
  if (Array.isArray(alternatives)) return exampleOf(alternatives[0], depth + 1)
  const type = Array.isArray(schema['type']) ? schema['type'][0] : schema['type']
  switch (type) {
    case 'string':
      return DEMO_MODEL
    case 'number':
    case 'integer':
      return 0
    case 'boolean':
      return false
    case 'array':
      return []
    case 'null':
      return null
    default: {
      const properties = isObject(schema['properties']) ? schema['properties'] : {}
      const required = Array.isArray(schema['required']) ? schema['required'] : []
      const out: JsonObject = {}
      for (const name of required) {
        if (typeof name === 'string') out[name] = exampleOf(properties[name], depth + 1)
      }
      return out
    }
  }
}

/** The function the request makes the model call, if any. */
const calledFunction = (body: JsonObject): JsonObject | undefined => {
  const tools = Array.isArray(body['tools']) ? body['tools'] : []
  const functions = tools.flatMap((tool) =>
    isObject(tool) && tool['type'] === 'function' && isObject(tool['function'])
      ? [tool['function']]
      : [],
  )
  const choice = body['tool_choice']
  if (functions.length === 0 || choice === 'none') return undefined
  const named = isObject(choice) && isObject(choice['function']) ? choice['function']['name'] : ''
  return functions.find((fn) => fn['name'] === named) ?? functions[0]
}

const answer = (body: JsonObject, messages: JsonObject[]): Answer => {
  const last = messages.at(-1)
  const fn = last?.['role'] === 'tool' ? undefined : calledFunction(body)
  if (fn !== undefined && typeof fn['name'] === 'string') {
    const args = JSON.stringify(exampleOf(fn['parameters'] ?? { type: 'object' }))
    const id = `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`
    return {
      kind: 'tool',
      call: { id, type: 'function', function: { name: fn['name'], arguments: args } },
    }
  }
  const lastUser = messages.findLast((message) => message['role'] === 'user')
  const text =
    last?.['role'] === 'tool'
      ? `Echo: the tool said ${textOf(last['content'])}`
      : `Echo: ${textOf(lastUser?.['content']) || '(no text)'}`
  const limit = body['max_completion_tokens'] ?? body['max_tokens']
  if (typeof limit === 'number' && limit > 0 && tokens(text) > limit) {
    return { kind: 'text', content: text.slice(0, limit * 4), finishReason: 'length' }
  }
  return { kind: 'text', content: text, finishReason: 'stop' }
}

const chatUsage = (messages: JsonObject[], result: Answer): JsonObject => {
  const prompt = tokens(messages.map((message) => textOf(message['content'])).join('\n'))
  const completion = tokens(
    result.kind === 'text'
      ? result.content
      : result.call.function.name + result.call.function.arguments,
  )
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  }
}

const completion = (head: JsonObject, result: Answer, usage: JsonObject): JsonObject => {
  const message: JsonObject =
    result.kind === 'text'
      ? { role: 'assistant', content: result.content, refusal: null }
      : { role: 'assistant', content: null, refusal: null, tool_calls: [result.call] }
  const finishReason = result.kind === 'text' ? result.finishReason : 'tool_calls'
  return {
    ...head,
    object: 'chat.completion',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage,
  }
}

/** `text` in pieces of a word and the space after it, as a model streams tokens. */
const pieces = (text: string): string[] => text.match(/\S+\s*|\s+/g) ?? []

/** The SSE events of a streamed answer, `data: [DONE]` included. */
const streamEvents = (
  head: JsonObject,
  result: Answer,
  usage: JsonObject | undefined,
): string[] => {
  const chunk = (delta: JsonObject, finishReason: string | null = null): JsonObject => ({
    ...head,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // With include_usage, every chunk but the last carries `usage: null` (OpenAI's rule).
    ...(usage === undefined ? {} : { usage: null }),
  })
  const chunks: JsonObject[] = []
  if (result.kind === 'text') {
    chunks.push(chunk({ role: 'assistant', content: '', refusal: null }))
    for (const piece of pieces(result.content)) chunks.push(chunk({ content: piece }))
    chunks.push(chunk({}, result.finishReason))
  } else {
    const { id, type, function: fn } = result.call
    chunks.push(
      chunk({
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id, type, function: { name: fn.name, arguments: '' } }],
      }),
    )
    for (const piece of fn.arguments.match(/.{1,8}/gs) ?? []) {
      chunks.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }))
    }
    chunks.push(chunk({}, 'tool_calls'))
  }
  if (usage !== undefined) {
    chunks.push({ ...head, object: 'chat.completion.chunk', choices: [], usage })
  }
  return [...chunks.map((data) => `data: ${JSON.stringify(data)}\n\n`), 'data: [DONE]\n\n']
}

const chat = (body: JsonObject, res: ServerResponse): void => {
  const messages = body['messages']
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isObject)) {
    throw invalid('messages must be a non-empty array of messages', 'messages')
  }
  const result = answer(body, messages)
  const usage = chatUsage(messages, result)
  const head = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    created: Math.floor(Date.now() / 1000),
    model: DEMO_MODEL,
  }
  if (body['stream'] !== true) {
    sendJson(res, 200, completion(head, result, usage))
    return
  }
  const options = body['stream_options']
  const withUsage = isObject(options) && options['include_usage'] === true
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-request-id': requestId(),
  })
  for (const event of streamEvents(head, result, withUsage ? usage : undefined)) res.write(event)
  res.end()
}

// --- embeddings -----------------------------------------------------------------------------

/** A unit vector from a hash of `text`: same text and size, same vector. */
const embed = (text: string, dimensions: number): number[] => {
  const raw: number[] = []
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash('sha256')
      .update(`${String(block)}:${text}`)
      .digest()
    for (let at = 0; at + 4 <= digest.length && raw.length < dimensions; at += 4) {
      raw.push((digest.readUInt32LE(at) / 0xffffffff) * 2 - 1)
    }
  }
  const norm = Math.sqrt(raw.reduce((sum, x) => sum + x * x, 0)) || 1
  // float32, so the float and base64 forms hold the same numbers.
  return raw.map((x) => Math.fround(x / norm))
}

/** OpenAI's base64 form: the little-endian float32 bytes. */
const base64 = (vector: number[]): string => {
  const bytes = Buffer.alloc(vector.length * 4)
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4))
  return bytes.toString('base64')
}

/** Each input as text: a string, or a token array (one input, or a batch of them). */
const inputs = (input: Json | undefined): string[] => {
  if (typeof input === 'string' && input !== '') return [input]
  if (!Array.isArray(input) || input.length === 0) {
    throw invalid('input must be a non-empty string or array', 'input')
  }
  if (input.every((item) => typeof item === 'number')) return [JSON.stringify(input)]
  return input.map((item) => {
    if (typeof item === 'string' && item !== '') return item
    if (Array.isArray(item) && item.length > 0) return JSON.stringify(item)
    throw invalid('each input must be a non-empty string or token array', 'input')
  })
}

const embeddings = (body: JsonObject, res: ServerResponse): void => {
  const texts = inputs(body['input'])
  const requested = body['dimensions']
  if (requested !== undefined) {
    const ok = Number.isInteger(requested) && Number(requested) > 0
    if (!ok || Number(requested) > MAX_DIMENSIONS) {
      throw invalid(
        `dimensions must be a whole number from 1 to ${String(MAX_DIMENSIONS)}`,
        'dimensions',
      )
    }
  }
  const dimensions = typeof requested === 'number' ? requested : DEFAULT_DIMENSIONS
  const asBase64 = body['encoding_format'] === 'base64'
  const data = texts.map((text, index) => {
    const vector = embed(text, dimensions)
    return { object: 'embedding', index, embedding: asBase64 ? base64(vector) : vector }
  })
  const used = texts.reduce((sum, text) => sum + tokens(text), 0)
  sendJson(res, 200, {
    object: 'list',
    data,
    model: DEMO_MODEL,
    usage: { prompt_tokens: used, total_tokens: used },
  })
}

// --- HTTP -----------------------------------------------------------------------------------

const requestId = (): string => `req_${randomUUID().replaceAll('-', '')}`

const sendJson = (res: ServerResponse, status: number, body: JsonObject): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'x-request-id': requestId(),
  })
  res.end(text)
}

const readJson = async (req: IncomingMessage): Promise<JsonObject> => {
  const parts: Buffer[] = []
  let size = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length
    if (size > MAX_BODY_BYTES) {
      throw new DemoError(413, 'Request body too large', 'invalid_request_error')
    }
    parts.push(part)
  }
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'))
  } catch {
    throw invalid('The body is not valid JSON')
  }
  if (!isObject(body)) throw invalid('The body must be a JSON object')
  return body
}

const ROUTES: Record<string, Record<string, (body: JsonObject, res: ServerResponse) => void>> = {
  '/v1/chat/completions': { POST: chat },
  '/v1/embeddings': { POST: embeddings },
}

const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const { pathname } = new URL(req.url ?? '/', 'http://demo')
  const method = req.method ?? 'GET'
  if (pathname === '/v1/models') {
    if (method !== 'GET') {
      throw new DemoError(405, `${method} is not allowed here`, 'invalid_request_error')
    }
    const card = {
      id: DEMO_MODEL,
      object: 'model',
      created: MODEL_CREATED,
      owned_by: 'floopy-demo',
    }
    sendJson(res, 200, { object: 'list', data: [card] })
    return
  }
  const route = ROUTES[pathname]
  if (route === undefined) {
    throw new DemoError(404, `Unknown path ${pathname}`, 'invalid_request_error', null, 'not_found')
  }
  const handler = route[method]
  if (handler === undefined) {
    throw new DemoError(405, `${method} is not allowed here`, 'invalid_request_error')
  }
  const body = await readJson(req)
  if (body['model'] === undefined) throw invalid('model is required', 'model')
  if (body['model'] !== DEMO_MODEL) {
    throw new DemoError(
      404,
      `The demo endpoint serves one model, ${DEMO_MODEL} (through the gateway: ` +
        `${DEMO_PROVIDER_ID}/${DEMO_MODEL}); it has no ${JSON.stringify(body['model'])}`,
      'invalid_request_error',
      'model',
      'model_not_found',
    )
  }
  handler(body, res)
}

/** Starts the demo endpoint on 127.0.0.1 (`port` 0, the default, picks a free one). */
export const startDemoProvider = async (port = 0): Promise<DemoProvider> => {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const known = error instanceof DemoError
      const status = known ? error.status : 500
      const message = known ? error.message : 'The demo endpoint failed'
      const { type, param, code } = known
        ? error
        : { type: 'server_error', param: null, code: null }
      sendJson(res, status, { error: { message, type, param, code } })
    })
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port assigned')
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${String(address.port)}/v1`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
        server.closeAllConnections()
      })),
  }
}
