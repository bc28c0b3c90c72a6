/**
 * @module The chat completion as the translating families (Anthropic, Bedrock, Gemini) answer
 * it: OpenAI's shapes with the `reasoning_content` that OpenAI-compatible providers add, the
 * encoding of a finished answer, and the SSE events of a streamed one.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessage,
  ChatCompletionMessageFunctionToolCall,
} from 'openai/resources/chat/completions'
import type { CompletionUsage } from 'openai/resources/completions'

export type FinishReason = ChatCompletion.Choice['finish_reason']

/** The assistant message with the reasoning text OpenAI-compatible providers add. */
export type ReasoningMessage = ChatCompletionMessage & { reasoning_content?: string }

export type ReasoningChoice = Omit<ChatCompletion.Choice, 'message'> & {
  message: ReasoningMessage
}

export type ChatCompletionWithReasoning = Omit<ChatCompletion, 'choices'> & {
  choices: ReasoningChoice[]
}

/** An answer's id, creation time (Unix seconds) and model: on its completion, or on every chunk. */
export type AnswerHead = { readonly id: string; readonly created: number; readonly model: string }

/** What one translated answer (a single choice) is made of, in the order the provider gave it. */
export type AnswerParts = {
  readonly texts: readonly string[]
  readonly reasoning: readonly string[]
  readonly toolCalls: readonly ChatCompletionMessageFunctionToolCall[]
  /** The client asked for reasoning: the reasoning texts become `reasoning_content`. */
  readonly showReasoning: boolean
}

/**
 * A chat completion of one choice: the assistant message of `parts` (`content` is `null` only
 * beside tool calls, as OpenAI's), with `finish` and `usage`.
 */
export const oneChoiceCompletion = (
  head: AnswerHead,
  parts: AnswerParts,
  finish: FinishReason,
  usage: CompletionUsage,
): ChatCompletionWithReasoning => {
  const { texts, reasoning, toolCalls } = parts
  const message: ReasoningMessage = {
    role: 'assistant',
    content: texts.length > 0 ? texts.join('') : toolCalls.length > 0 ? null : '',
    refusal: null,
  }
  if (toolCalls.length > 0) message.tool_calls = [...toolCalls]
  if (parts.showReasoning && reasoning.length > 0) message.reasoning_content = reasoning.join('')
  return {
    id: head.id,
    object: 'chat.completion',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage,
  }
}

/** A streamed chunk's delta, with the reasoning text OpenAI-compatible providers add. */
export type ChunkDelta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }

/** One SSE event carrying a `chat.completion.chunk` (with `usage` when given). */
export const chunkEvent = (
  head: AnswerHead,
  choices: ChatCompletionChunk['choices'],
  usage?: ChatCompletionChunk['usage'],
): string => {
  const out: ChatCompletionChunk = {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices,
  }
  if (usage !== undefined) out.usage = usage
  return `data: ${JSON.stringify(out)}\n\n`
}

/** The event of a chunk whose one choice (index 0) carries `delta`. */
export const deltaEvent = (
  head: AnswerHead,
  delta: ChunkDelta,
  finish: FinishReason | null = null,
): string => chunkEvent(head, [{ index: 0, delta, logprobs: null, finish_reason: finish }])

/** The delta that opens an answer, as OpenAI's first chunk has it. */
export const OPENING_DELTA: ChunkDelta = { role: 'assistant', content: '', refusal: null }

const encoder = new TextEncoder()

/** A JSON answer as an `ArrayBuffer`, so the runtime sends it with a `content-length`. */
export const jsonBody = (body: unknown): ArrayBuffer => {
  const bytes = encoder.encode(JSON.stringify(body))
  // The encoder's own buffer when it holds just these bytes (it does in workerd), else a copy.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : bytes.slice().buffer
}
