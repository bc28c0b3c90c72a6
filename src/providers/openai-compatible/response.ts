/**
 * @module Relays a non-streamed JSON response unchanged while reading its `usage` on the way.
 *
 * Bodies of a declared size up to `BUFFER_MAX_BYTES` are read in one native read (the cheapest
 * path for chat answers). Larger or unsized ones (a 2,048-input embeddings batch can be tens of
 * megabytes) are relayed natively with a tap beside them (`relayJsonResponse`), so no chunk of
 * the body passes through script on its way to the client; only a head and a tail window are kept —
 * OpenAI-compatible providers put `usage` last.
 */
import type { ResponseOutcome, Usage } from '../../types'
import type { HeadSink } from '../head'
import { readWhole, reusedReads } from '../relay'
import { tail } from '../tail'
import { readUsage } from '../usage'
import { isRecord, type Json } from '../fields'

const TAIL_BYTES = 16 * 1024
/**
 * Bodies up to this declared size are read in one piece: the cheapest path for chat answers. Larger
 * ones go through the tee: read whole, ten 1 MB embeddings answers grew workerd by +17–21 MiB (each
 * a 1 MB buffer collected late), through the tee +9 MiB (bench/REPORT.md, 2026-12-07).
 */
export const BUFFER_MAX_BYTES = 256 * 1024

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

const encoder = new TextEncoder()
const USAGE_KEY = encoder.encode('"usage"')
/** Stateless decodes only (no `stream`), so one decoder serves every answer. */
const decoder = new TextDecoder()
/** How far from the end of a buffered body `usage` is looked for before parsing it whole. */
const USAGE_WINDOW = 4096

/**
 * Usage of a whole JSON body: only the tail window holding its last `"usage"` key is decoded
 * (OpenAI-compatible providers put usage last); bodies without one there are parsed whole.
 */
export const usageOfBytes = (bytes: Uint8Array): Usage | undefined => {
  const from = Math.max(0, bytes.length - USAGE_WINDOW)
  if (hasUsageKey(bytes, from)) {
    const usage = usageFrom(decoder.decode(bytes.subarray(from)), false)
    if (usage !== undefined) return usage
  }
  return usageFrom(decoder.decode(bytes), true)
}

/** Whether `"usage"` occurs in `bytes` at or after `from` (a byte loop: runs per answer). */
const hasUsageKey = (bytes: Uint8Array, from: number): boolean => {
  const last = USAGE_KEY.length - 1
  search: for (let i = bytes.length - USAGE_KEY.length; i >= from; i--) {
    if (bytes[i] !== 0x22 || bytes[i + last] !== 0x22) continue
    for (let j = 1; j < last; j++) if (bytes[i + j] !== USAGE_KEY[j]) continue search
    return true
  }
  return false
}

/**
 * Bytes per read of the tapped branch (one buffer, reused for every read). Each read waits until
 * the buffer is full (or the body ends): the tap has no reader waiting on it, and what workerd's
 * runtime keeps per read, not per byte, is what grows its memory (`bench/relay-variants.ts`: a
 * 16 MB body read 64 KiB at a time as it arrives grew workerd by +41 MiB over ten, in full
 * 256 KiB reads by +13 MiB). The tee holds at most this much more for the tap than for the client.
 */
const READ_BYTES = 256 * 1024

/**
 * Relays a large or unsized non-streamed body: the client receives one branch of `upstream.tee()`,
 * which stays native in workerd (the bytes never pass through script, as with a plain proxy);
 * the other branch is read here into ONE reused buffer (a BYOB reader), handing each read to
 * `head` (the answer's taps' bounded copy, when they asked for one) and keeping a `TAIL_BYTES`
 * ring for `usage`, which OpenAI-compatible providers put last. Beyond the bounded copy nothing is
 * allocated per chunk (measured: 16 MB answers grow workerd by tens of MiB over ten, not
 * hundreds); a runtime without BYOB readers on tee branches gets a default reader instead.
 *
 * `onEnd` is called once: `done` with the usage, or `interrupted` when the body broke off.
 *
 * Trade-off: the tap reads at the provider's pace, so for a client slower than the provider the
 * tee holds the part of the body the client has not read yet (natively, at most the body). The
 * alternative, pacing the provider by the client through a script transform, keeps every chunk in
 * the script heap until a late garbage collection (measured: +112 MiB after ten 16 MB bodies).
 */
export const relayJsonResponse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (outcome: ResponseOutcome) => void,
  head?: HeadSink,
): ReadableStream<Uint8Array> => {
  const [client, tapped] = upstream.tee()
  const kept = tail(TAIL_BYTES)

  const take = (bytes: Uint8Array): void => {
    head?.take(bytes)
    kept.keep(bytes)
  }

  const usage = (): Usage | undefined => {
    const last = kept.last()
    return last.cut ? usageFrom(decoder.decode(last.bytes), false) : usageOfBytes(last.bytes)
  }

  drain(tapped, take).then(
    () => {
      onEnd({ usage: usage(), end: 'done' })
    },
    () => {
      onEnd({ usage: undefined, end: 'interrupted' })
    },
  )
  return client
}

/** Reads `stream` to its end, handing each chunk to `take` (valid only during the call). */
const drain = async (
  stream: ReadableStream<Uint8Array>,
  take: (bytes: Uint8Array) => void,
): Promise<void> => {
  const reads = reusedReads(stream, READ_BYTES)
  for (;;) {
    const { done, value } = await reads.read(true)
    if (value !== undefined) take(value)
    if (done) {
      reads.release()
      return
    }
  }
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
): Promise<ArrayBuffer> => {
  const text = await readWhole(upstream, (r) => r.text())
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    onEnd(undefined)
    return encodeText(text)
  }
  onEnd(readUsage(isRecord(body) ? body.usage : undefined))
  return encodeText(JSON.stringify(normalizeChatCompletion(body)))
}

const encodeText = (text: string): ArrayBuffer => {
  const bytes = encoder.encode(text)
  const out = new ArrayBuffer(bytes.byteLength)
  new Uint8Array(out).set(bytes)
  return out
}
