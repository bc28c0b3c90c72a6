/**
 * @module A fake safety model, served by any fake provider for a model whose name holds `guard`
 * (e.g. `together/meta-llama/Llama-Guard-4-12B`, `anthropic/claude-guard-fake`): it judges the
 * text the firewall asks about by rules, and answers in the Llama Guard 4 contract (`safe`, or
 * `unsafe` and the category codes on the next line).
 *
 * The judged text is what a real model would assess: for a Llama Guard model the last user
 * message of the conversation it is sent (its chat template does the rest); for any other model
 * the last `User:` turn between `<BEGIN CONVERSATION>` and `<END CONVERSATION>` of the written-out
 * prompt (`src/firewall/classifier.ts`). A request that carries neither is answered `garbage`.
 *
 * Rules, by what the judged text contains (first match wins):
 * | text                                  | answer                                           |
 * |---------------------------------------|--------------------------------------------------|
 * | anywhere in the conversation: `[guard:unsafe-context]` | `unsafe\nS2` (the context makes it so) |
 * | `[guard:500]`                         | the provider's 500 error                         |
 * | `[guard:slow]`                        | `safe`, after 60 s                               |
 * | `[guard:garbage]`                     | `I am not sure about this one.` (no verdict)     |
 * | `bomb`, `explosive`                   | `unsafe\nS9` (Indiscriminate Weapons)            |
 * | `ignore all previous instructions`    | `unsafe\nS2,S14`                                 |
 * | `hate them all`                       | `unsafe\nS10`                                    |
 * | anything else                         | `safe`                                           |
 */
import { isObject, stringAt, type JsonObject } from '../json.ts'

export const isGuardModel = (model: string | undefined): boolean =>
  model !== undefined && /guard/i.test(model)

export type GuardRule =
  | { readonly kind: 'verdict'; readonly text: string }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'slow'; readonly ms: number; readonly text: string }

/** How long `[guard:slow]` waits before answering. */
export const GUARD_SLOW_MS = 60_000

const textOf = (content: unknown): string => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part: unknown) => (isObject(part) ? (stringAt(part, 'text') ?? '') : ''))
    .join('\n')
}

/** The text under judgement in a chat (OpenAI-style) or messages (Anthropic) request body. */
export const judgedText = (body: JsonObject): string | undefined => {
  const messages = Array.isArray(body['messages']) ? body['messages'] : []
  const texts = messages.flatMap((m) =>
    isObject(m) ? [{ role: stringAt(m, 'role'), text: textOf(m['content']) }] : [],
  )
  const lastUser = texts.filter((m) => m.role === 'user').at(-1)?.text
  if (lastUser === undefined) return undefined
  const conversation = /<BEGIN CONVERSATION>([\s\S]*)<END CONVERSATION>/.exec(lastUser)
  if (conversation === null) return lastUser
  const turns = (conversation[1] ?? '').split(/\n\n(?=(?:User|Agent): )/)
  const last = turns.filter((turn) => turn.trimStart().startsWith('User: ')).at(-1)
  return last?.trimStart().slice('User: '.length).trim()
}

export const guardRule = (text: string | undefined, body?: JsonObject): GuardRule => {
  if (text === undefined) return { kind: 'verdict', text: 'I am not sure about this one.' }
  if (JSON.stringify(body?.['messages'] ?? []).includes('[guard:unsafe-context]')) {
    return { kind: 'verdict', text: 'unsafe\nS2' }
  }
  const lower = text.toLowerCase()
  if (lower.includes('[guard:500]')) return { kind: 'status', status: 500 }
  if (lower.includes('[guard:slow]')) return { kind: 'slow', ms: GUARD_SLOW_MS, text: 'safe' }
  if (lower.includes('[guard:garbage]')) {
    return { kind: 'verdict', text: 'I am not sure about this one.' }
  }
  if (/bomb|explosive/.test(lower)) return { kind: 'verdict', text: 'unsafe\nS9' }
  if (lower.includes('ignore all previous instructions')) {
    return { kind: 'verdict', text: 'unsafe\nS2,S14' }
  }
  if (lower.includes('hate them all')) return { kind: 'verdict', text: 'unsafe\nS10' }
  return { kind: 'verdict', text: 'safe' }
}

/** The usage a verdict reports: a token per four characters asked, and a few for the answer. */
export const guardUsage = (
  body: JsonObject,
  answer: string,
): { input: number; output: number } => ({
  input: Math.max(1, Math.ceil(JSON.stringify(body['messages'] ?? []).length / 4)),
  output: Math.max(1, answer.split(/[\s,]+/).length),
})
