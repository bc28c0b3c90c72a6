/**
 * @module The firewall's check, given its I/O: when it is on for a request, asking one safety
 * model (`classifier.ts`) through the provider client, and the verdict cache's entries — unsafe
 * verdicts remembered by the prompt's embedding, never by its text.
 */
import type { callProvider } from '../providers/client'
import type { Target, Usage } from '../types'
import {
  classificationMessages,
  readVerdict,
  verdictParams,
  type Turn,
  type Verdict,
} from './classifier'

/** The request header that asks for the firewall. */
export const FIREWALL_HEADER = 'floopy-llm-security-enabled'

/** The plan flag without which the header is ignored. */
export const FIREWALL_FLAG = 'has_advanced_firewall'

/** Whether the request asked for the firewall (`floopy-llm-security-enabled: true`). */
export const firewallRequested = (headers: Headers): boolean =>
  headers.get(FIREWALL_HEADER)?.trim().toLowerCase() === 'true'

/** Whether the firewall runs for a request: it asked, and its organisation's plan has it. */
export const firewallOn = (
  headers: Headers,
  features: Readonly<Record<string, unknown>>,
): boolean => features[FIREWALL_FLAG] === true && firewallRequested(headers)

/** One configured safety model: where it is, its weight, and its `FIREWALL_MODEL` entry. */
export type FirewallBackend = {
  readonly target: Target
  readonly weight: number
  /** `[provider](model)`: which entry of `FIREWALL_MODEL` this is (the log's `model_ref`). */
  readonly ref: string
}

/** `provider/model`, as the log names a backend. */
export const backendName = (backend: FirewallBackend): string =>
  `${backend.target.provider.spec.id}/${backend.target.model}`

export type Classified = { readonly verdict: Verdict; readonly usage: Usage | undefined }

const usageOf = (body: unknown): Usage | undefined => {
  const found: unknown = (body as { usage?: unknown } | null)?.usage
  if (typeof found !== 'object' || found === null) return undefined
  const usage = found as Record<string, unknown>
  const n = (value: unknown): number => (typeof value === 'number' ? value : 0)
  return {
    promptTokens: n(usage.prompt_tokens),
    completionTokens: n(usage.completion_tokens),
    totalTokens: n(usage.total_tokens),
    cachedTokens: 0,
    reasoningTokens: 0,
  }
}

/**
 * Asks `backend` to classify `turns`. Throws when the model fails or answers outside the contract
 * (the caller fails open); the message never holds the prompt.
 */
export const classify = async (
  call: typeof callProvider,
  backend: FirewallBackend,
  turns: readonly Turn[],
  options: { readonly requestId: string; readonly timeoutMs: number },
): Promise<Classified> => {
  const { target } = backend
  const response = await call(
    target,
    {
      kind: 'chat',
      body: {
        model: target.model,
        messages: classificationMessages(target.model, turns),
        ...verdictParams(target.provider.spec.id, target.model),
      },
      model: target.model,
      stream: false,
      includeUsage: false,
    },
    { requestId: options.requestId, apiKey: target.provider.apiKey, timeoutMs: options.timeoutMs },
  )
  const body: unknown = await response.json()
  const content = (body as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]
    ?.message?.content
  const verdict = typeof content === 'string' ? readVerdict(content) : undefined
  if (verdict === undefined) {
    throw new Error(`${backendName(backend)} answered outside the safe/unsafe contract`)
  }
  return { verdict, usage: usageOf(body) }
}

/** What a stored unsafe verdict keeps (its point's `entry`; the payload has the same fields). */
export type StoredVerdict = {
  readonly categories: readonly string[]
  readonly backend: string
  readonly model_ref: string
  /** Unix seconds. */
  readonly created_at: number
}

/** A stored verdict read back; `undefined` for anything that is not one. */
export const readStoredVerdict = (entry: string): StoredVerdict | undefined => {
  let value: unknown
  try {
    value = JSON.parse(entry)
  } catch {
    return undefined
  }
  const v = value as Partial<StoredVerdict> | null
  if (
    v === null ||
    !Array.isArray(v.categories) ||
    v.categories.length === 0 ||
    !v.categories.every((code) => typeof code === 'string') ||
    typeof v.backend !== 'string' ||
    typeof v.model_ref !== 'string' ||
    typeof v.created_at !== 'number'
  ) {
    return undefined
  }
  return {
    categories: v.categories,
    backend: v.backend,
    model_ref: v.model_ref,
    created_at: v.created_at,
  }
}
