/**
 * @module The Gemini REST shapes the adapter reads and writes, derived from `@google/genai`'s types
 * (type-only imports: nothing of the SDK is bundled).
 *
 * The SDK declares its enums as TypeScript `enum`s; on the wire they are plain strings, so
 * `Wire<T>` replaces each enum by the union of its string values (`FinishReason` → `'STOP' |
 * 'MAX_TOKENS' | …`). The REST request itself (`GenerateContentRequest` in
 * specs/gemini/proto/v1beta/generative_service.proto) has no SDK type — the SDK's
 * `GenerateContentParameters` nests everything under `config` — so it is declared here from the
 * proto, with the SDK's part types.
 */
import type {
  Candidate,
  Content,
  ContentEmbedding,
  FunctionDeclaration,
  GenerateContentResponse,
  GenerateContentResponseUsageMetadata,
  GenerationConfig,
  Part,
  ThinkingConfig,
  Tool,
  ToolConfig,
} from '@google/genai'

/** A type as it travels in JSON: the SDK's string enums become their string values. */
export type Wire<T> = T extends string
  ? `${T}`
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T

export type GeminiPart = Wire<Part>
export type GeminiContent = Wire<Content>
export type GeminiTool = Wire<Tool>
export type GeminiFunctionDeclaration = Wire<FunctionDeclaration>
export type GeminiToolConfig = Wire<ToolConfig>
export type GeminiGenerationConfig = Wire<GenerationConfig>
export type GeminiThinkingConfig = Wire<ThinkingConfig>
export type GeminiCandidate = Wire<Candidate>
export type GeminiUsage = Wire<GenerateContentResponseUsageMetadata>
export type GeminiFinishReason = NonNullable<GeminiCandidate['finishReason']>

/** `GenerateContentRequest` (generative_service.proto), in its JSON names. */
export type GenerateContentRequest = {
  contents: GeminiContent[]
  systemInstruction?: GeminiContent
  tools?: GeminiTool[]
  toolConfig?: GeminiToolConfig
  /** Always sent, possibly empty, as the official SDK does. */
  generationConfig: GeminiGenerationConfig
}

/** `GenerateContentResponse` without the SDK's client-side additions (getters, HTTP response). */
export type GeminiResponse = Wire<
  Pick<
    GenerateContentResponse,
    'candidates' | 'promptFeedback' | 'usageMetadata' | 'modelVersion' | 'responseId'
  >
>

/** `EmbedContentRequest` (generative_service.proto), as one entry of a batch. */
export type EmbedContentRequest = {
  /** The model's resource name, `models/{model}`; must equal the one in the URL. */
  model: string
  content: GeminiContent
  outputDimensionality?: number
}

/** `BatchEmbedContentsRequest` and `BatchEmbedContentsResponse`. */
export type BatchEmbedContentsRequest = { requests: EmbedContentRequest[] }
export type BatchEmbedContentsResponse = {
  embeddings?: Wire<ContentEmbedding>[]
  /** Not in the v1beta proto; read when a newer API version reports it. */
  usageMetadata?: { promptTokenCount?: number; totalTokenCount?: number }
}

/** Gemini's error envelope (`google.rpc.Status` under `error`), also sent inside streams. */
export type GeminiErrorBody = { error: { code?: number; message?: string; status?: string } }
