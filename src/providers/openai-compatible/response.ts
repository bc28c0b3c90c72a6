/**
 * @module Relays a non-streamed JSON response unchanged while reading its `usage` on the way.
 *
 * The body is passed through as it arrives, so memory stays flat in response size (a 2,048-input
 * embeddings batch can be tens of megabytes). Small bodies are kept whole and parsed at the end;
 * for large ones only a tail window is kept — OpenAI-compatible providers put `usage` last.
 */
import { readWhole } from '../relay'
import { readUsage, type Usage } from '../usage'

const KEEP_WHOLE_BYTES = 64 * 1024
const TAIL_BYTES = 16 * 1024
/** Bodies up to this declared size are read in one piece: the cheapest path for chat answers. */
export const BUFFER_MAX_BYTES = 1024 * 1024

/**
 * Reads a body whose `content-length` is at most `BUFFER_MAX_BYTES` in one native read, reports
 * its usage, and answers the same bytes; `undefined` when the body is larger or of unknown size.
 */
export const bufferedJsonResponse = async (
  upstream: Response,
  onEnd: (usage: Usage | undefined) => void,
): Promise<ArrayBuffer | undefined> => {
  const declared = Number(upstream.headers.get('content-length') ?? Number.NaN)
  if (!(declared <= BUFFER_MAX_BYTES)) return undefined
  const bytes = await readWhole(upstream, (r) => r.arrayBuffer())
  onEnd(usageOfBytes(new Uint8Array(bytes)))
  return bytes
}

const USAGE_KEY = new TextEncoder().encode('"usage"')
/** How far from the end of a buffered body `usage` is looked for before parsing it whole. */
const USAGE_WINDOW = 4096

/**
 * Usage of a whole JSON body: only the tail window holding its last `"usage"` key is decoded
 * (OpenAI-compatible providers put usage last); bodies without one there are parsed whole.
 */
export const usageOfBytes = (bytes: Uint8Array): Usage | undefined => {
  const from = Math.max(0, bytes.length - USAGE_WINDOW)
  for (let i = bytes.length - USAGE_KEY.length; i >= from; i--) {
    if (bytes[i] === 0x22 && USAGE_KEY.every((b, j) => bytes[i + j] === b)) {
      const usage = usageFrom(new TextDecoder().decode(bytes.subarray(from)), false)
      if (usage !== undefined) return usage
      break
    }
  }
  return usageFrom(new TextDecoder().decode(bytes), true)
}

export const relayJsonResponse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (usage: Usage | undefined) => void,
): ReadableStream<Uint8Array> => {
  const parts: Uint8Array[] = []
  let kept = 0
  let whole = true
  return upstream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk)
        parts.push(chunk)
        kept += chunk.byteLength
        if (kept > KEEP_WHOLE_BYTES) {
          whole = false
          // Drop leading parts while what remains still covers the tail window.
          while (parts.length > 1 && kept - (parts[0]?.byteLength ?? 0) >= TAIL_BYTES) {
            kept -= parts.shift()?.byteLength ?? 0
          }
        }
      },
      flush() {
        onEnd(usageFrom(new TextDecoder().decode(concat(parts, kept)), whole))
      },
    }),
  )
}

const concat = (parts: readonly Uint8Array[], length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** Finds `usage` in a whole body, or in the tail of one by scanning its last `"usage":{…}`. */
export const usageFrom = (text: string, whole: boolean): Usage | undefined => {
  if (whole) {
    try {
      return readUsage((JSON.parse(text) as { usage?: unknown }).usage)
    } catch {
      return undefined
    }
  }
  // Scan `"usage"` keys from the end: a nested one (Groq's `x_groq.usage`) may follow the
  // top-level one, so take the last that reads as a token count.
  let key = text.lastIndexOf('"usage"')
  while (key !== -1) {
    const open = text.indexOf('{', key)
    const close = open === -1 ? -1 : matchingBrace(text, open)
    if (close !== -1) {
      try {
        const candidate = JSON.parse(text.slice(open, close + 1)) as Record<string, unknown>
        if (
          typeof candidate.prompt_tokens === 'number' ||
          typeof candidate.total_tokens === 'number'
        ) {
          return readUsage(candidate)
        }
      } catch {
        // not a complete object at this position; try an earlier key
      }
    }
    key = key === 0 ? -1 : text.lastIndexOf('"usage"', key - 1)
  }
  return undefined
}

const matchingBrace = (text: string, open: number): number => {
  let depth = 0
  let inString = false
  for (let i = open; i < text.length; i++) {
    const ch = text[i]
    if (inString) {
      if (ch === '\\') i++
      else if (ch === '"') inString = false
    } else if (ch === '"') inString = true
    else if (ch === '{') depth++
    else if (ch === '}' && --depth === 0) return i
  }
  return -1
}

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Finish reasons outside OpenAI's enum, mapped to their OpenAI meaning. */
const FINISH_REASONS: Readonly<Record<string, string>> = { model_length: 'length' }

/** Text of a content given as an array of chunks (Mistral: `text` and `thinking` chunks). */
const textOf = (content: unknown[]): string =>
  content
    .map((part) =>
      isRecord(part) && part.type === 'text' && typeof part.text === 'string' ? part.text : '',
    )
    .join('')

/**
 * Gives a chat completion the fields OpenAI's `CreateChatCompletionResponse` requires, keeping
 * everything else: `choices[].logprobs` and `message.refusal` default to null, a null
 * `tool_calls` is removed, chunked content becomes its text, and non-OpenAI finish reasons map.
 */
export const normalizeChatCompletion = (body: unknown): unknown => {
  if (!isRecord(body) || !Array.isArray(body.choices)) return body
  return {
    ...body,
    choices: body.choices.map((choice: unknown) => {
      if (!isRecord(choice)) return choice
      const out: Json = { ...choice, logprobs: choice.logprobs ?? null }
      if (typeof choice.finish_reason === 'string') {
        out.finish_reason = FINISH_REASONS[choice.finish_reason] ?? choice.finish_reason
      }
      if (isRecord(choice.message)) {
        const message: Json = { ...choice.message, refusal: choice.message.refusal ?? null }
        if (message.tool_calls === null) delete message.tool_calls
        if (Array.isArray(message.content)) message.content = textOf(message.content)
        out.message = message
      }
      return out
    }),
  }
}

/** Reads a (small) chat completion, normalises it, and reports its usage. */
export const normalizedChatResponse = async (
  upstream: Response,
  onEnd: (usage: Usage | undefined) => void,
): Promise<ReadableStream<Uint8Array>> => {
  const text = await readWhole(upstream, (r) => r.text())
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    onEnd(undefined)
    return new Response(text).body ?? new ReadableStream()
  }
  onEnd(readUsage(isRecord(body) ? body.usage : undefined))
  return new Response(JSON.stringify(normalizeChatCompletion(body))).body ?? new ReadableStream()
}
