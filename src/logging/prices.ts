import type { Usage } from '../types'
/**
 * @module The price table: USD per million tokens by provider and model, versioned.
 *
 * `PRICE_VERSION` names the table a log row was priced with (stored in `price_version`), so a
 * price change never silently re-prices history: bump it with every edit. Prices are the
 * providers' published list prices for standard (non-batch) use, taken from their pricing pages
 * (platform.openai.com/docs/pricing, anthropic.com/pricing, ai.google.dev/pricing,
 * groq.com/pricing, mistral.ai/pricing, api-docs.deepseek.com/quick_start/pricing,
 * together.ai/pricing). Gemini 2.5 Pro is priced at its ≤ 200k-token prompt tier.
 *
 * A model is found by its exact name, then with a trailing date or `-latest` removed
 * (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`); anything else has no price and its cost is logged
 * as unknown (`NULL`), never as zero.
 */

export const PRICE_VERSION = '2026-11-01'

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
  together: {
    'meta-llama/Llama-3.3-70B-Instruct-Turbo': p(0.88, 0.88),
    // The LLM firewall's default safety model.
    'meta-llama/Llama-Guard-4-12B': p(0.2, 0.2),
  },
}

const DATED = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/

const priceOf = (provider: string, model: string): Price | undefined => {
  const table = PRICES[provider]
  if (table === undefined) return undefined
  return table[model] ?? table[model.replace(DATED, '')]
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
