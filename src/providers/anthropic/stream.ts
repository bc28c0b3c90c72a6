/**
 * @module Translates an Anthropic Messages event stream into OpenAI `chat.completion.chunk`
 * events, event by event, as it arrives.
 *
 * `step` is a pure function over explicit state: each Anthropic event (specs/anthropic/NOTES.md,
 * "Streaming") becomes zero or more OpenAI SSE events (specs/openai/STREAMING.md):
 *
 * | Anthropic                              | OpenAI                                            |
 * | -------------------------------------- | ------------------------------------------------- |
 * | `message_start`                        | — (its id, model and input usage are kept)        |
 * | first `content_block_start`            | role chunk (`role: 'assistant'`, `content: ''`)   |
 * | `content_block_start` tool_use         | `tool_calls[{index, id, type, function: {name,    |
 * |                                        | arguments: ''}}]` (first block: with the role and |
 * |                                        | `content: null`, OpenAI's tool-call opening)      |
 * | `text_delta`                           | `content`                                         |
 * | `input_json_delta`                     | `tool_calls[{index, function: {arguments}}]`      |
 * | `thinking_delta` (reasoning asked for) | `reasoning_content`                               |
 * | `message_delta`                        | finish chunk (`delta: {}`, `finish_reason`)       |
 * | `message_stop`                         | usage chunk (`choices: []`, if asked), `[DONE]`   |
 * | `error`                                | an `event: error` (PROVIDER_ERROR); stream ends   |
 * | `ping`, signatures, citations, unknown | —                                                 |
 *
 * Chunks carry the Anthropic message id and model from `message_start` and a `created` fixed when
 * the stream starts. Tool calls are numbered in order of appearance. Usage is cumulative in
 * Anthropic's stream (`message_delta` repeats the totals) and always reported to `onEnd`, whether
 * or not the client asked for the usage chunk. A stream that ends before `message_stop`, or whose
 * connection breaks, ends with an SSE error event (STREAM_INTERRUPTED) and no `[DONE]`.
 */
import type {
  RawContentBlockDelta,
  RawContentBlockStartEvent,
  RawMessageStreamEvent,
} from '@anthropic-ai/sdk/resources/messages'
import { isRecord, parseJson } from '../fields'
import { relaySse, type RelayResult, type StreamEnd, type StreamRelayOptions } from '../relay'
import type { SseEvent } from '../sse'
import type { ResponsePlan } from './claude'
import {
  chunkEvent,
  deltaEvent,
  OPENING_DELTA,
  type ChunkDelta,
  type AnswerHead,
  type FinishReason,
} from '../completion'
import { finishReason, gatewayUsage, openAIUsage, tokenCounts, type TokenCounts } from './response'
import type { Usage } from '../../types'

export type StreamPlan = ResponsePlan & {
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly showUsage: boolean
  /** Unix seconds stamped on every chunk. */
  readonly created: number
}

/** What an Anthropic content block (by its index) turned into. */
type Block =
  | { readonly kind: 'text' | 'thinking' | 'json' | 'ignored' }
  | { readonly kind: 'tool'; readonly index: number }

export type StreamState = {
  readonly plan: StreamPlan
  /** What every chunk carries: the message id and model of `message_start` (empty before it). */
  head: AnswerHead
  roleSent: boolean
  blocks: Map<number, Block>
  toolCalls: number
  counts: TokenCounts | undefined
  stopReason: string | null | undefined
  finishSent: boolean
  end: StreamEnd | undefined
}

export const initialState = (plan: StreamPlan): StreamState => ({
  plan,
  head: { id: '', created: plan.created, model: '' },
  roleSent: false,
  blocks: new Map(),
  toolCalls: 0,
  counts: undefined,
  stopReason: undefined,
  finishSent: false,
  end: undefined,
})

/** The usage known so far, for the gateway's records. */
export const usageOf = (state: StreamState): Usage | undefined =>
  state.counts === undefined ? undefined : gatewayUsage(state.counts)

type ErrorEvent = { type: 'error'; error?: unknown }
type AnthropicEvent = RawMessageStreamEvent | ErrorEvent | { type: 'ping' }

const deltaChunk = (state: StreamState, delta: ChunkDelta, finish: FinishReason | null = null) =>
  deltaEvent(state.head, delta, finish)

/**
 * The role chunk, once, before anything else. It waits for the first content block so that an
 * answer opening with a tool call can carry `content: null` as OpenAI's do.
 */
const opening = (state: StreamState): string => {
  if (state.roleSent) return ''
  state.roleSent = true
  return deltaChunk(state, OPENING_DELTA)
}

/** The fields `step` reads, per event type; anything else is an event it does not know. */
const wellFormed = (event: Record<string, unknown>): boolean => {
  switch (event.type) {
    case 'message_start':
      return isRecord(event.message)
    case 'content_block_start':
      return typeof event.index === 'number' && isRecord(event.content_block)
    case 'content_block_delta':
      return typeof event.index === 'number' && isRecord(event.delta)
    case 'message_delta':
      return isRecord(event.delta)
    default:
      return typeof event.type === 'string'
  }
}

const parse = (data: string): AnthropicEvent | undefined => {
  const value = parseJson(data)
  return isRecord(value) && wellFormed(value) ? (value as AnthropicEvent) : undefined
}

/**
 * Translates one Anthropic event into the OpenAI SSE text to send (possibly empty). `errorEvent`
 * renders an Anthropic `error` event's error object as an OpenAI SSE error event.
 */
export const step = (
  state: StreamState,
  event: SseEvent,
  errorEvent: (providerError: unknown) => string,
): string => {
  if (state.end !== undefined || event.data === undefined) return ''
  const parsed = parse(event.data)
  if (parsed === undefined) return ''
  switch (parsed.type) {
    case 'message_start':
      state.head = {
        id: parsed.message.id,
        created: state.plan.created,
        model: parsed.message.model,
      }
      state.counts = tokenCounts(parsed.message.usage)
      return ''
    case 'content_block_start':
      return blockStart(state, parsed)
    case 'content_block_delta':
      return opening(state) + blockDelta(state, parsed.index, parsed.delta)
    case 'content_block_stop':
      return ''
    case 'message_delta':
      state.stopReason = parsed.delta.stop_reason
      state.counts = tokenCounts(parsed.usage, state.counts)
      return opening(state) + finish(state)
    case 'message_stop': {
      state.end = 'done'
      const usage =
        state.plan.showUsage && state.counts !== undefined
          ? chunkEvent(state.head, [], openAIUsage(state.counts))
          : ''
      return `${opening(state)}${finish(state)}${usage}data: [DONE]\n\n`
    }
    case 'error':
      state.end = 'provider_error'
      return errorEvent(parsed)
    default:
      return '' // ping, and event types added after this was written
  }
}

const finish = (state: StreamState): string => {
  if (state.finishSent) return ''
  state.finishSent = true
  return deltaChunk(state, {}, finishReason(state.stopReason, state.toolCalls > 0))
}

const blockStart = (state: StreamState, event: RawContentBlockStartEvent): string => {
  const block = event.content_block
  switch (block.type) {
    case 'text':
      state.blocks.set(event.index, { kind: 'text' })
      return opening(state) + (block.text === '' ? '' : deltaChunk(state, { content: block.text }))
    case 'thinking':
      state.blocks.set(event.index, { kind: 'thinking' })
      return opening(state)
    case 'tool_use': {
      if (block.name === state.plan.jsonTool) {
        state.blocks.set(event.index, { kind: 'json' })
        return opening(state)
      }
      const index = state.toolCalls++
      state.blocks.set(event.index, { kind: 'tool', index })
      const call = { index, id: block.id, type: 'function' as const }
      const tool_calls = [{ ...call, function: { name: block.name, arguments: '' } }]
      if (state.roleSent) return deltaChunk(state, { tool_calls })
      // An answer that opens with a tool call: OpenAI's first chunk then has `content: null`.
      state.roleSent = true
      return deltaChunk(state, { role: 'assistant', content: null, tool_calls, refusal: null })
    }
    default:
      state.blocks.set(event.index, { kind: 'ignored' })
      return opening(state)
  }
}

const blockDelta = (state: StreamState, index: number, delta: RawContentBlockDelta): string => {
  const block = state.blocks.get(index)
  if (block === undefined) return ''
  switch (delta.type) {
    case 'text_delta':
      return block.kind === 'text' && delta.text !== ''
        ? deltaChunk(state, { content: delta.text })
        : ''
    case 'input_json_delta':
      if (delta.partial_json === '') return ''
      if (block.kind === 'json') return deltaChunk(state, { content: delta.partial_json })
      if (block.kind !== 'tool') return ''
      return deltaChunk(state, {
        tool_calls: [{ index: block.index, function: { arguments: delta.partial_json } }],
      })
    case 'thinking_delta':
      return block.kind === 'thinking' && state.plan.showReasoning && delta.thinking !== ''
        ? deltaChunk(state, { reasoning_content: delta.thinking })
        : ''
    default:
      return '' // signatures and citations have no OpenAI form
  }
}

export type { RelayResult }
export type RelayOptions = StreamRelayOptions<StreamPlan>

/**
 * Pipes the Anthropic event stream through `step`. Through `relaySse`:
 * backpressure reaches the provider, and a client that goes away cancels the upstream request.
 */
export const relayAnthropicStream = (
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): ReadableStream<Uint8Array> => {
  const state = initialState(options.plan)
  // Only `message_stop` completes a stream: a body that ends or breaks before it, even after the
  // finish chunk, was cut short.
  const interrupted = (): string => {
    state.end ??= 'interrupted'
    return state.end === 'interrupted' ? options.interruptedEvent() : ''
  }
  return relaySse(
    upstream,
    {
      end: () => state.end,
      step: (event) => step(state, event, options.providerErrorEvent),
      finish: interrupted,
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
