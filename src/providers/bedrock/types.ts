/**
 * @module The parts of Bedrock's Converse API the gateway sends and reads (Amazon Bedrock API
 * Reference, `Converse` and `ConverseStream`, Bedrock Runtime). Written out rather than taken
 * from the AWS SDK, which the gateway does not otherwise need. Binary fields (`bytes`) travel as
 * base64 strings, as in every AWS JSON protocol.
 */

import type { Json } from '../fields'

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp'

export type DocumentFormat = 'pdf' | 'csv' | 'doc' | 'docx' | 'xls' | 'xlsx' | 'html' | 'txt' | 'md'

/** A prompt-caching checkpoint: everything before it may be cached. */
export type CachePointBlock = { cachePoint: { type: 'default' } }

export type ImageBlock = {
  image: {
    format: ImageFormat
    source: { bytes: string } | { s3Location: { uri: string } }
  }
}

export type DocumentBlock = {
  document: { format: DocumentFormat; name: string; source: { bytes: string } }
}

export type ToolUseBlock = { toolUse: { toolUseId: string; name: string; input: Json } }

export type ToolResultBlock = {
  toolResult: { toolUseId: string; content: { text: string }[] }
}

export type ContentBlock =
  { text: string } | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | CachePointBlock

export type SystemBlock = { text: string } | CachePointBlock

export type Role = 'user' | 'assistant'

export type Message = { role: Role; content: ContentBlock[] }

export type ToolSpec = {
  toolSpec: { name: string; description?: string; inputSchema: { json: Json } }
}

export type ToolChoice = { auto: Json } | { any: Json } | { tool: { name: string } }

export type InferenceConfig = {
  maxTokens?: number
  temperature?: number
  topP?: number
  stopSequences?: string[]
}

/** The body of `POST /model/{modelId}/converse` (and `/converse-stream`); the model is the path. */
export type ConverseRequest = {
  messages: Message[]
  system?: SystemBlock[]
  inferenceConfig?: InferenceConfig
  toolConfig?: { tools: ToolSpec[]; toolChoice?: ToolChoice }
  /** Model-specific fields passed through (Anthropic's `thinking`). */
  additionalModelRequestFields?: Json
}

/** Token usage, in `Converse` answers and the stream's `metadata` event. */
export type ConverseUsage = {
  inputTokens?: number
  outputTokens?: number
  totalTokens?: number
  cacheReadInputTokens?: number
  cacheWriteInputTokens?: number
}

/** A content block of an answer (only the kinds the gateway reads are spelled out). */
export type OutputBlock = {
  text?: string
  toolUse?: { toolUseId?: string; name?: string; input?: unknown }
  reasoningContent?: { reasoningText?: { text?: string; signature?: string } }
}

/** The `Converse` answer, as far as it is read. */
export type ConverseResponse = {
  output?: { message?: { role?: string; content?: OutputBlock[] } }
  stopReason?: string
  usage?: ConverseUsage
}
