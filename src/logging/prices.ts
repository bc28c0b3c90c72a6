import type { Usage } from '../types'
/**
 * @module The price table: USD per million tokens by provider and model, versioned.
 *
 * `PRICE_VERSION` names the table a log row was priced with (stored in `price_version`), so a
 * price change never silently re-prices history: bump it with every edit. Prices are the
 * providers' published list prices for standard (non-batch) use, taken from their pricing pages
 * (platform.openai.com/docs/pricing, anthropic.com/pricing, ai.google.dev/pricing,
 * groq.com/pricing, mistral.ai/pricing, api-docs.deepseek.com/quick_start/pricing,
 * together.ai/pricing, aws.amazon.com/bedrock/pricing). Gemini 2.5 Pro is priced at its
 * ≤ 200k-token prompt tier. Bedrock is priced on demand in US East (N. Virginia) by base model
 * id; a cross-Region inference profile (`us.`, `eu.`, `apac.`, `global.` … before the id) costs
 * what its model does (AWS: "no additional charge for using cross-region inference"), and
 * cached input is what each model's prompt caching bills (Claude 3 Haiku and the Llama and Mistral
 * models have none).
 *
 * A model is found by its exact name, then with a trailing date or `-latest` removed
 * (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`), then without an inference profile's Region prefix;
 * anything else has no price and its cost is logged as unknown (`NULL`), never as zero.
 */

export const PRICE_VERSION = '2026-11-02'

/** USD per 1M tokens: input, cached input (read), output. */
type Price = { readonly input: number; readonly cachedInput: number; readonly output: number }

const p = (input: number, output: number, cachedInput = input): Price => ({
  input,
  cachedInput,
  output,
})

const PRICES: Readonly<Record<string, Readonly<Record<string, Price>>>> = {
  openai: {
    'gpt-5': p(1.25, 10, 0.125),
    'gpt-5-mini': p(0.25, 2, 0.025),
    'gpt-5-nano': p(0.05, 0.4, 0.005),
    'gpt-4.1': p(2, 8, 0.5),
    'gpt-4.1-mini': p(0.4, 1.6, 0.1),
    'gpt-4.1-nano': p(0.1, 0.4, 0.025),
    'gpt-4o': p(2.5, 10, 1.25),
    'gpt-4o-mini': p(0.15, 0.6, 0.075),
    o3: p(2, 8, 0.5),
    'o4-mini': p(1.1, 4.4, 0.275),
    'text-embedding-3-small': p(0.02, 0),
    'text-embedding-3-large': p(0.13, 0),
  },
  anthropic: {
    'claude-opus-4-1': p(15, 75, 1.5),
    'claude-sonnet-4-5': p(3, 15, 0.3),
    'claude-sonnet-4': p(3, 15, 0.3),
    'claude-haiku-4-5': p(1, 5, 0.1),
    'claude-3-5-haiku': p(0.8, 4, 0.08),
  },
  gemini: {
    'gemini-2.5-pro': p(1.25, 10, 0.31),
    'gemini-2.5-flash': p(0.3, 2.5, 0.075),
    'gemini-2.5-flash-lite': p(0.1, 0.4, 0.025),
    'gemini-2.0-flash': p(0.1, 0.4, 0.025),
  },
  groq: {
    'llama-3.3-70b-versatile': p(0.59, 0.79),
    'llama-3.1-8b-instant': p(0.05, 0.08),
  },
  mistral: {
    'mistral-large': p(2, 6),
    'mistral-medium': p(0.4, 2),
    'mistral-small': p(0.1, 0.3),
    'mistral-embed': p(0.1, 0),
  },
  deepseek: {
    'deepseek-chat': p(0.27, 1.1, 0.07),
    'deepseek-reasoner': p(0.55, 2.19, 0.14),
  },
  bedrock: {
    'anthropic.claude-3-haiku-20240307-v1:0': p(0.25, 1.25),
    'anthropic.claude-3-5-haiku-20241022-v1:0': p(0.8, 4, 0.08),
    'anthropic.claude-3-5-sonnet-20240620-v1:0': p(3, 15),
    'anthropic.claude-3-5-sonnet-20241022-v2:0': p(3, 15, 0.3),
    'anthropic.claude-3-7-sonnet-20250219-v1:0': p(3, 15, 0.3),
    'anthropic.claude-sonnet-4-20250514-v1:0': p(3, 15, 0.3),
    'anthropic.claude-sonnet-4-5-20250929-v1:0': p(3, 15, 0.3),
    'anthropic.claude-haiku-4-5-20251001-v1:0': p(1, 5, 0.1),
    'anthropic.claude-opus-4-1-20250805-v1:0': p(15, 75, 1.5),
    'amazon.nova-micro-v1:0': p(0.035, 0.14, 0.00875),
    'amazon.nova-lite-v1:0': p(0.06, 0.24, 0.015),
    'amazon.nova-pro-v1:0': p(0.8, 3.2, 0.2),
    'meta.llama3-1-8b-instruct-v1:0': p(0.22, 0.22),
    'meta.llama3-1-70b-instruct-v1:0': p(0.72, 0.72),
    'meta.llama3-3-70b-instruct-v1:0': p(0.72, 0.72),
    'mistral.mistral-7b-instruct-v0:2': p(0.15, 0.2),
    'mistral.mixtral-8x7b-instruct-v0:1': p(0.45, 0.7),
    'mistral.mistral-small-2402-v1:0': p(1, 3),
    'mistral.mistral-large-2402-v1:0': p(4, 12),
    'mistral.mistral-large-2407-v1:0': p(2, 6),
  },
  together: {
    'meta-llama/Llama-3.3-70B-Instruct-Turbo': p(0.88, 0.88),
    // The LLM firewall's default safety model.
    'meta-llama/Llama-Guard-4-12B': p(0.2, 0.2),
  },
}

const DATED = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/

/** A Bedrock cross-Region inference profile's prefix (`us.anthropic.…` → `anthropic.…`). */
const INFERENCE_PROFILE = /^(?:us|us-gov|eu|apac|jp|au|ca|global)\./

const priceOf = (provider: string, model: string): Price | undefined => {
  const table = PRICES[provider]
  if (table === undefined) return undefined
  return (
    table[model] ?? table[model.replace(DATED, '')] ?? table[model.replace(INFERENCE_PROFILE, '')]
  )
}

/**
 * The cost of a request in USD (as a decimal string with 9 places, as the log's Decimal column
 * takes it), or `null` when the model has no price or there is no usage. Cached prompt tokens are
 * billed at the cached rate; reasoning tokens are part of the completion tokens.
 */
export const costOf = (
  provider: string,
  model: string,
  usage: Usage | undefined,
): string | null => {
  const price = priceOf(provider, model)
  if (price === undefined || usage === undefined) return null
  const cached = Math.min(usage.cachedTokens, usage.promptTokens)
  const micro =
    (usage.promptTokens - cached) * price.input +
    cached * price.cachedInput +
    usage.completionTokens * price.output
  return (micro / 1_000_000).toFixed(9)
}

/**
 * A model's price in USD per million tokens, input and output averaged (the `feedback` strategy's
 * cost penalty); `undefined` when it has no price.
 */
export const blendedPrice = (provider: string, model: string): number | undefined => {
  const price = priceOf(provider, model)
  return price === undefined ? undefined : (price.input + price.output) / 2
}
