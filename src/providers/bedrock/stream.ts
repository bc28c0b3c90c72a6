/**
 * @module Translates a ConverseStream answer (`application/vnd.amazon.eventstream`, decoded by
 * `eventstream.ts`) into OpenAI `chat.completion.chunk` events, message by message, as it arrives.
 *
 * `step` is a pure function over explicit state. Each event's payload is the JSON of its member of
 * `ConverseStreamOutput` (Amazon Bedrock API Reference); Bedrock pads them with a random `p` field,
 * which is ignored. The client gets OpenAI's contract (specs/openai/STREAMING.md):
 *
 * | ConverseStream (`:event-type`)            | OpenAI                                          |
 * | ----------------------------------------- | ----------------------------------------------- |
 * | `messageStart`                            | — (the role chunk waits for the first content)  |
 * | first content                             | role chunk (`role: 'assistant'`, `content: ''`) |
 * | `contentBlockStart` with `toolUse`        | `tool_calls[{index, id, type, function: {name,  |
 * |                                           | arguments: ''}}]` (first block: with the role   |
 * |                                           | and `content: null`, OpenAI's tool-call opening)|
 * | `contentBlockDelta` `text`                | `content`                                       |
 * | `contentBlockDelta` `toolUse.input`       | `tool_calls[{index, function: {arguments}}]`    |
 * |                                           | (the forced JSON tool's: `content`)             |
 * | `contentBlockDelta` `reasoningContent`    | `reasoning_content` (reasoning asked for;       |
 * | `.text`                                   | signatures and redacted reasoning: nothing)     |
 * | `contentBlockStop`                        | —                                               |
 * | `messageStop`                             | finish chunk (`delta: {}`, `finish_reason`)     |
 * | `metadata` (after `messageStop`)          | usage chunk (`choices: []`, if asked), `[DONE]` |
 * | an `exception` or `error` message         | an `event: error` (PROVIDER_ERROR, the status   |
 * |                                           | its `:exception-type` maps to); stream ends     |
 * | a frame failing its checksums or bounds   | an `event: error` (PROVIDER_ERROR, 502); ends   |
 *
 * Chunks carry a made-up `chatcmpl-…` id, the model id the request went to, and a `created` fixed
 * when the stream starts. The stream is complete once `messageStop` has come and the body ended
 * (or `metadata` came, which is last); a body that ends before `messageStop`, in the middle of a
 * frame, or a connection that breaks, ends with a STREAM_INTERRUPTED error event and no `[DONE]`.
 * The usage (`metadata.usage`) is reported to `onEnd` however the stream ends.
 */
import { relayFrames, type FrameRelayOptions } from '../frame-relay'
import type { StreamEnd } from '../relay'
import { EventStreamDecoder, EventStreamError, type EventMessage } from './eventstream'
import {
  chunkEvent,
  deltaEvent,
  OPENING_DELTA,
  type ChunkDelta,
  type FinishReason,
} from '../completion'
import {
  finishReason,
  gatewayUsage,
  openAIUsage,
  tokenCounts,
  type ReplyPlan,
  type TokenCounts,
} from './response'
import { isRecord, parseJson, type Json } from '../fields'
import type { Usage } from '../../types'

export type StreamPlan = ReplyPlan & {
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly showUsage: boolean
}

/** What a Converse content block (by its index) turned into. */
type Block =
  | { readonly kind: 'text' }
  | { readonly kind: 'json' }
  | { readonly kind: 'tool'; readonly index: number }

/** A provider error as the stream reports it: its AWS kind (when known) and message. */
export type StreamFailure = { readonly type: string | undefined; readonly message: string }

export type StreamState = {
  readonly plan: StreamPlan
  roleSent: boolean
  blocks: Map<number, Block>
  toolCalls: number
  counts: TokenCounts | undefined
  /** `messageStop`'s reason, once it came. */
  stopReason: string | undefined
  stopped: boolean
  end: StreamEnd | undefined
}

export const initialState = (plan: StreamPlan): StreamState => ({
  plan,
  roleSent: false,
  blocks: new Map(),
  toolCalls: 0,
  counts: undefined,
  stopReason: undefined,
  stopped: false,
  end: undefined,
})

/** The usage known so far, for the gateway's records. */
export const usageOf = (state: StreamState): Usage | undefined =>
  state.counts === undefined ? undefined : gatewayUsage(state.counts)

/** Every chunk carries the plan's made-up id and the model the request went to. */
const deltaChunk = (state: StreamState, delta: ChunkDelta, finish: FinishReason | null = null) =>
  deltaEvent(state.plan, delta, finish)

/** The role chunk, once, before anything else (see the module doc). */
const opening = (state: StreamState): string => {
  if (state.roleSent) return ''
  state.roleSent = true
  return deltaChunk(state, OPENING_DELTA)
}

const finish = (state: StreamState): string =>
  deltaChunk(state, {}, finishReason(state.stopReason, state.toolCalls > 0))

const usageChunk = (state: StreamState): string =>
  state.plan.showUsage && state.counts !== undefined
    ? chunkEvent(state.plan, [], openAIUsage(state.counts))
    : ''

const textDecoder = new TextDecoder()

const payloadOf = (message: EventMessage): Json | undefined => {
  const value = parseJson(textDecoder.decode(message.body))
  return isRecord(value) ? value : undefined
}

const blockIndex = (payload: Json): number =>
  typeof payload.contentBlockIndex === 'number' ? payload.contentBlockIndex : 0

const blockStart = (state: StreamState, payload: Json): string => {
  const use = isRecord(payload.start) ? payload.start.toolUse : undefined
  if (!isRecord(use) || typeof use.name !== 'string') return ''
  const at = blockIndex(payload)
  if (use.name === state.plan.jsonTool) {
    state.blocks.set(at, { kind: 'json' })
    return opening(state)
  }
  const index = state.toolCalls++
  state.blocks.set(at, { kind: 'tool', index })
  const id = typeof use.toolUseId === 'string' ? use.toolUseId : `call_${index}`
  const tool_calls = [
    { index, id, type: 'function' as const, function: { name: use.name, arguments: '' } },
  ]
  if (state.roleSent) return deltaChunk(state, { tool_calls })
  // An answer that opens with a tool call: OpenAI's first chunk then has `content: null`.
  state.roleSent = true
  return deltaChunk(state, { role: 'assistant', content: null, tool_calls, refusal: null })
}

const blockDelta = (state: StreamState, payload: Json): string => {
  const delta = payload.delta
  if (!isRecord(delta)) return ''
  const at = blockIndex(payload)
  if (typeof delta.text === 'string') {
    // Text blocks have no `contentBlockStart`: the first delta opens them.
    if (!state.blocks.has(at)) state.blocks.set(at, { kind: 'text' })
    return delta.text === '' ? '' : opening(state) + deltaChunk(state, { content: delta.text })
  }
  const block = state.blocks.get(at)
  if (isRecord(delta.toolUse) && typeof delta.toolUse.input === 'string') {
    const input = delta.toolUse.input
    if (input === '' || block === undefined || block.kind === 'text') return ''
    if (block.kind === 'json') return deltaChunk(state, { content: input })
    return deltaChunk(state, {
      tool_calls: [{ index: block.index, function: { arguments: input } }],
    })
  }
  const reasoning = isRecord(delta.reasoningContent) ? delta.reasoningContent.text : undefined
  if (typeof reasoning === 'string' && reasoning !== '' && state.plan.showReasoning) {
    return opening(state) + deltaChunk(state, { reasoning_content: reasoning })
  }
  return '' // signatures, redacted reasoning, citations: no OpenAI form
}

/**
 * Translates one decoded message into the OpenAI SSE text to send (possibly empty). `errorEvent`
 * renders a provider failure as an OpenAI SSE error event.
 */
export const step = (
  state: StreamState,
  message: EventMessage,
  errorEvent: (failure: StreamFailure) => string,
): string => {
  if (state.end !== undefined) return ''
  const kind = message.headers[':message-type']
  if (kind === 'exception' || kind === 'error') {
    state.end = 'provider_error'
    const payload = kind === 'exception' ? payloadOf(message) : undefined
    const said = payload?.message ?? payload?.Message ?? message.headers[':error-message']
    return errorEvent({
      type: message.headers[':exception-type'] ?? message.headers[':error-code'],
      message: typeof said === 'string' && said !== '' ? said : 'The stream reported an error.',
    })
  }
  const payload = payloadOf(message)
  if (payload === undefined) return ''
  switch (message.headers[':event-type']) {
    case 'contentBlockStart':
      return blockStart(state, payload)
    case 'contentBlockDelta':
      return blockDelta(state, payload)
    case 'messageStop':
      if (state.stopped) return ''
      state.stopped = true
      state.stopReason = typeof payload.stopReason === 'string' ? payload.stopReason : undefined
      return opening(state) + finish(state)
    case 'metadata':
      if (isRecord(payload.usage)) state.counts = tokenCounts(payload.usage)
      if (!state.stopped) return ''
      state.end = 'done'
      return `${usageChunk(state)}data: [DONE]\n\n`
    default:
      return '' // messageStart, contentBlockStop, and events added after this was written
  }
}

/** The body ended: complete after `messageStop`, else cut short. */
export const done = (state: StreamState, cut: boolean, interrupted: () => string): string => {
  if (state.end !== undefined) return ''
  if (!state.stopped || cut) {
    state.end = 'interrupted'
    return interrupted()
  }
  state.end = 'done'
  return `${usageChunk(state)}data: [DONE]\n\n`
}

export type BedrockRelayOptions = FrameRelayOptions & {
  readonly plan: StreamPlan
  /** Renders a provider failure in the stream as an OpenAI SSE error event. */
  readonly providerErrorEvent: (failure: StreamFailure) => string
  /** The SSE error event sent when the stream breaks before its end. */
  readonly interruptedEvent: () => string
}

/** Pipes a ConverseStream body through the decoder and `step`. */
export const relayBedrockStream = (
  upstream: ReadableStream<Uint8Array>,
  options: BedrockRelayOptions,
): ReadableStream<Uint8Array> => {
  const state = initialState(options.plan)
  const decoder = new EventStreamDecoder()
  const interrupted = (): string => {
    state.end ??= 'interrupted'
    return state.end === 'interrupted' ? options.interruptedEvent() : ''
  }
  /** Every complete message the decoder holds, translated, until the stream ends. */
  const drainMessages = (): string => {
    let out = ''
    while (state.end === undefined) {
      let message: EventMessage | undefined
      try {
        message = decoder.next()
      } catch (err) {
        state.end = 'provider_error'
        const reason = err instanceof EventStreamError ? err.message : 'malformed message'
        return `${out}${options.providerErrorEvent({
          type: undefined,
          message: `The event stream is corrupt (${reason}).`,
        })}`
      }
      if (message === undefined) break
      out += step(state, message, options.providerErrorEvent)
    }
    return out
  }
  return relayFrames(
    upstream,
    {
      end: () => state.end,
      read: (bytes) => {
        decoder.push(bytes)
        return drainMessages()
      },
      done: () => {
        const out = drainMessages()
        return out + done(state, decoder.pending > 0, options.interruptedEvent)
      },
      broken: interrupted,
      usage: () => usageOf(state),
    },
    {
      onEnd: options.onEnd,
      tap: options.tap,
      onFirstChunk: options.onFirstChunk,
      onRelease: options.onRelease,
    },
  )
}
