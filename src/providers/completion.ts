/**
 * @module The chat completion as the translating families (Anthropic, Bedrock, Gemini) answer
 * it: OpenAI's shapes with the `reasoning_content` that OpenAI-compatible providers add, and the
 * encoding of a finished answer.
 */
import type { ChatCompletion, ChatCompletionMessage } from 'openai/resources/chat/completions'

export type FinishReason = ChatCompletion.Choice['finish_reason']

/** The assistant message with the reasoning text OpenAI-compatible providers add. */
export type ReasoningMessage = ChatCompletionMessage & { reasoning_content?: string }

export type ReasoningChoice = Omit<ChatCompletion.Choice, 'message'> & {
  message: ReasoningMessage
}

export type ChatCompletionWithReasoning = Omit<ChatCompletion, 'choices'> & {
  choices: ReasoningChoice[]
}

const encoder = new TextEncoder()

/** A JSON answer as an `ArrayBuffer`, so the runtime sends it with a `content-length`. */
export const jsonBody = (body: unknown): ArrayBuffer => {
  const bytes = encoder.encode(JSON.stringify(body))
  // The encoder's own buffer when it holds just these bytes (it does in workerd), else a copy.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : bytes.slice().buffer
}
