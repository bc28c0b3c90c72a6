/**
 * @module The provider registry: every provider the gateway can reach, as data.
 *
 * An entry holds the provider's default base URL (in the form its own SDK uses, so operators can
 * copy `<PROVIDER>_BASE_URL` values from the provider's docs), the request paths below that base,
 * the auth header style, and the quirks that make an OpenAI-shaped request acceptable to it. The
 * outbound host only ever comes from here or from operator config (see `security/ssrf.ts`).
 *
 * Sources for the quirks: specs/providers/NOTES.md (Groq SDK types, Mistral's OpenAPI spec and
 * mistral-common's validator, DeepSeek's API docs).
 */

import type { OpenAIQuirks, ProviderSpec } from '../types'

const bearer = { header: 'authorization', prefix: 'Bearer ' } as const
const standard: OpenAIQuirks = { streamUsage: 'stream-options' }
/** OpenAI's own: the usage chunk as specs/openai/STREAMING.md shows it, nothing else to move. */
const openai: OpenAIQuirks = { ...standard, ownUsageChunk: true }

const set = (...items: string[]): ReadonlySet<string> => new Set(items)

/** Mistral's `ChatCompletionRequest` and message schemas (specs/providers/mistral/openapi.yaml). */
const mistral: OpenAIQuirks = {
  streamUsage: 'final-chunk',
  acceptedChatParams: set(
    'model',
    'temperature',
    'top_p',
    'max_tokens',
    'stream',
    'stop',
    'random_seed',
    'metadata',
    'messages',
    'response_format',
    'tools',
    'tool_choice',
    'presence_penalty',
    'frequency_penalty',
    'n',
    'prediction',
    'parallel_tool_calls',
    'reasoning_effort',
    'prompt_mode',
    'guardrails',
    'prompt_cache_key',
    'service_tier',
    'safe_prompt',
  ),
  acceptedEmbeddingParams: set(
    'model',
    'metadata',
    'input',
    'output_dimension',
    'output_dtype',
    'encoding_format',
  ),
  rename: {
    max_completion_tokens: 'max_tokens',
    seed: 'random_seed',
    dimensions: 'output_dimension',
  },
  messageKeys: {
    system: set('role', 'content'),
    user: set('role', 'content'),
    assistant: set('role', 'content', 'tool_calls', 'prefix'),
    tool: set('role', 'content', 'tool_call_id', 'name'),
  },
  developerRole: 'system',
  toolCallIds: 'alnum9',
  toolParametersRequired: true,
  normalizeChatResponse: true,
}

/**
 * The built-in providers. Anthropic, Gemini and Bedrock need full translation (their own
 * families).
 */
export const PROVIDERS: readonly ProviderSpec[] = [
  {
    id: 'openai',
    family: 'openai-compatible',
    defaultBaseUrl: 'https://api.openai.com/v1',
    paths: { chat: '/chat/completions', embeddings: '/embeddings', models: '/models' },
    auth: bearer,
    quirks: openai,
  },
  {
    id: 'groq',
    family: 'openai-compatible',
    // groq-sdk's default baseURL; its resources post to /openai/v1/...
    defaultBaseUrl: 'https://api.groq.com',
    paths: {
      chat: '/openai/v1/chat/completions',
      embeddings: null,
      models: '/openai/v1/models',
    },
    auth: bearer,
    quirks: { streamUsage: 'x-groq' },
  },
  {
    id: 'mistral',
    family: 'openai-compatible',
    // Mistral's spec: servers: [https://api.mistral.ai], paths /v1/...
    defaultBaseUrl: 'https://api.mistral.ai',
    paths: { chat: '/v1/chat/completions', embeddings: '/v1/embeddings', models: '/v1/models' },
    auth: bearer,
    quirks: mistral,
  },
  {
    id: 'deepseek',
    family: 'openai-compatible',
    defaultBaseUrl: 'https://api.deepseek.com',
    paths: { chat: '/chat/completions', embeddings: null, models: '/models' },
    auth: bearer,
    quirks: standard,
  },
  {
    id: 'together',
    family: 'openai-compatible',
    defaultBaseUrl: 'https://api.together.xyz/v1',
    paths: { chat: '/chat/completions', embeddings: '/embeddings', models: '/models' },
    auth: bearer,
    quirks: standard,
  },
  {
    id: 'anthropic',
    family: 'anthropic',
    defaultBaseUrl: 'https://api.anthropic.com',
    paths: { chat: '/v1/messages', embeddings: null, models: '/v1/models' },
    auth: { header: 'x-api-key', prefix: '' },
    quirks: standard,
  },
  {
    id: 'gemini',
    family: 'gemini',
    defaultBaseUrl: 'https://generativelanguage.googleapis.com',
    paths: { chat: '/v1beta/models', embeddings: '/v1beta/models', models: '/v1beta/models' },
    auth: { header: 'x-goog-api-key', prefix: '' },
    quirks: standard,
  },
  {
    id: 'bedrock',
    family: 'bedrock',
    // The Bedrock Runtime host of the credential's Region (`bedrock/credentials.ts`): the
    // operator's AWS_REGION, or the Region an organisation's stored credential names. This
    // default stands only until a credential says which; paths: `/model/{id}/converse[-stream]`.
    defaultBaseUrl: 'https://bedrock-runtime.us-east-1.amazonaws.com',
    paths: { chat: '/model', embeddings: null, models: null },
    // Unused: the adapter signs the request itself (SigV4, or a Bedrock API key as a bearer).
    auth: bearer,
    quirks: standard,
  },
]

/** What an operator sets to configure a provider, for the messages that say so. */
export const keyVariables = (id: string): string =>
  id === 'bedrock'
    ? 'AWS_REGION with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_BEARER_TOKEN_BEDROCK'
    : `${id.toUpperCase()}_API_KEY`

/**
 * The registry's provider ids, which are also the `<PROVIDER>_API_KEY` env-var prefixes (Bedrock
 * aside: it reads AWS's own variables, see `keyVariables`).
 */
export const BUILTIN_PROVIDER_IDS = PROVIDERS.map((p) => p.id)

/** An operator-configured OpenAI-compatible endpoint (vLLM, Ollama, LM Studio, …). */
export const customProviderSpec = (
  id: string,
  baseUrl: string,
  streamOptions: boolean,
): ProviderSpec => ({
  id,
  family: 'openai-compatible',
  defaultBaseUrl: baseUrl,
  paths: { chat: '/chat/completions', embeddings: '/embeddings', models: '/models' },
  auth: bearer,
  quirks: { streamUsage: streamOptions ? 'stream-options' : 'final-chunk' },
})
