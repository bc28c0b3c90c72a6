/**
 * @module Model addressing: `provider/model` goes to that provider with the rest unchanged; a bare
 * model name is resolved by family patterns.
 *
 * The catalog only resolves names; it never gates an explicit `provider/model`, so a model released
 * tomorrow works today. Names that legitimately contain a slash (Together's `meta-llama/…`) are
 * only split when the first segment is a known provider id.
 */

/** Bare-name patterns, first match wins. Prefixes follow each provider's published model ids. */
const FAMILY_PATTERNS: readonly (readonly [RegExp, string])[] = [
  // Google's embedding names first: `text-embedding-004` would otherwise match OpenAI's prefix.
  [/^(?:gemini-|gemma-|text-embedding-004$|embedding-001$)/, 'gemini'],
  [
    /^(?:gpt-|chatgpt-|o\d(?:-|$)|text-embedding-|omni-moderation|davinci-|babbage-|codex-)/,
    'openai',
  ],
  [/^claude-/, 'anthropic'],
  [
    /^(?:mistral-|open-mistral-|open-mixtral-|mixtral-|codestral-|pixtral-|ministral-|magistral-|devstral-|voxtral-)/,
    'mistral',
  ],
  [/^deepseek-(?:chat|reasoner|v\d)/, 'deepseek'],
  // Groq's own naming for its hosted Llama variants.
  [/^(?:llama-[\d.]+-\d+b-(?:versatile|instant|specdec)|llama3-|gemma2-|qwen-qwq-)/, 'groq'],
  // Hugging Face style `org/model` names are Together's catalogue.
  [/^[A-Za-z0-9][\w.-]*\/[\w.:-]+$/, 'together'],
]

export type ModelAddress = { readonly provider: string; readonly model: string }

/**
 * Resolves a requested model name. `providerIds` are the ids the gateway knows (built-in and
 * operator-configured); `customModels` maps bare names declared by operator endpoints.
 */
export const resolveModel = (
  requested: string,
  providerIds: ReadonlySet<string>,
  customModels: ReadonlyMap<string, string>,
): ModelAddress | undefined => {
  const slash = requested.indexOf('/')
  if (slash > 0) {
    const prefix = requested.slice(0, slash)
    const rest = requested.slice(slash + 1)
    if (providerIds.has(prefix) && rest.length > 0) return { provider: prefix, model: rest }
  }
  const custom = customModels.get(requested)
  if (custom !== undefined) return { provider: custom, model: requested }
  for (const [pattern, provider] of FAMILY_PATTERNS) {
    if (pattern.test(requested)) return { provider, model: requested }
  }
  return undefined
}
