/**
 * @module The chat completion as the translating families (Anthropic, Bedrock, Gemini) answer
 * it: OpenAI's shapes with the `reasoning_content` that OpenAI-compatible providers add, the
 * encoding of a finished answer, and the SSE events of a streamed one.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessage,
} from 'openai/resources/chat/completions'

export type FinishReason = ChatCompletion.Choice['finish_reason']

/** The assistant message with the reasoning text OpenAI-compatible providers add. */
export type ReasoningMessage = ChatCompletionMessage & { reasoning_content?: string }

export type ReasoningChoice = Omit<ChatCompletion.Choice, 'message'> & {
  message: ReasoningMessage
}

export type ChatCompletionWithReasoning = Omit<ChatCompletion, 'choices'> & {
  choices: ReasoningChoice[]
}

/** A streamed chunk's delta, with the reasoning text OpenAI-compatible providers add. */
export type ChunkDelta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }

/** What every chunk of one translated stream carries. */
export type ChunkHead = { readonly id: string; readonly created: number; readonly model: string }

/** One SSE event carrying a `chat.completion.chunk` (with `usage` when given). */
export const chunkEvent = (
  head: ChunkHead,
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
  head: ChunkHead,
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
