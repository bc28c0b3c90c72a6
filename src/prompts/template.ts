/**
 * @module Prompt templates: their shape, the variables they use, and rendering them with a
 * request's `inputs` — pure, strict, one pass.
 *
 * A template is `{ messages, model?, params? }`. `{{name}}` (spaces inside the braces allowed;
 * names `[A-Za-z_][A-Za-z0-9_.-]*`) is replaced in every text part of its messages: a string
 * `content`, and the `text` of `text` parts. Values: strings as they are, numbers, booleans and
 * null as JSON text, objects and arrays as compact JSON; nothing is HTML-escaped. Substitution is
 * one pass, so a value that itself contains `{{x}}` stays literal. A variable the template uses
 * and `inputs` lacks is an error naming every missing one — never an empty string, as some
 * prompt libraries do.
 *
 * No relative imports, so the admin CLI loads this module under plain Node.
 */
import * as z from 'zod'

/** Prompt ids and version labels: lowercase, digits, `.`, `_`, `-`; 1-128 characters. */
export const PROMPT_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/

/** A version label (`production`, `staging`, …); a bare number selects a version instead. */
export const PROMPT_LABEL = PROMPT_ID

/** The label a request without `floopy-prompt-version` resolves to (else the latest version). */
export const DEFAULT_LABEL = 'production'

const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() })
const otherPart = z.looseObject({ type: z.string() })

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(z.union([textPart, otherPart])), z.null()]).optional(),
})

/** Fields a template's `params` may not set: the gateway or the request decides them. */
const RESERVED_PARAMS = ['messages', 'model', 'stream', 'stream_options', 'inputs'] as const

export const PromptTemplateSchema = z.strictObject({
  messages: z.array(message).min(1, 'must hold at least one message'),
  model: z.string().min(1).optional(),
  params: z
    .record(z.string(), z.unknown())
    .refine((params) => RESERVED_PARAMS.every((name) => !(name in params)), {
      message: `must not set ${RESERVED_PARAMS.join(', ')}`,
    })
    .optional(),
})

export type PromptTemplate = z.infer<typeof PromptTemplateSchema>

type Message = PromptTemplate['messages'][number]

/** Every text a message's variables can appear in. */
const textsOf = (m: Message): string[] => {
  if (typeof m.content === 'string') return [m.content]
  if (!Array.isArray(m.content)) return []
  return m.content.flatMap((part) =>
    part.type === 'text' && typeof part.text === 'string' ? [part.text] : [],
  )
}

/** The variables a template uses, in order of first use. */
export const variablesOf = (template: PromptTemplate): string[] => {
  const seen = new Set<string>()
  for (const m of template.messages) {
    for (const text of textsOf(m)) {
      for (const match of text.matchAll(VARIABLE)) if (match[1] !== undefined) seen.add(match[1])
    }
  }
  return [...seen]
}

/** A variable's value as it appears in the text. */
const asText = (value: unknown): string =>
  typeof value === 'string' ? value : JSON.stringify(value)

export type Rendered =
  | { readonly ok: true; readonly messages: Record<string, unknown>[] }
  | { readonly ok: false; readonly missing: readonly string[] }

/** Fills a template's messages with `inputs`; every variable it uses must be there. */
export const renderTemplate = (
  template: PromptTemplate,
  inputs: Readonly<Record<string, unknown>>,
): Rendered => {
  const missing = variablesOf(template).filter((name) => !Object.hasOwn(inputs, name))
  if (missing.length > 0) return { ok: false, missing }
  const fill = (text: string): string =>
    text.replace(VARIABLE, (_, name: string) => asText(inputs[name]))
  const messages = template.messages.map((m) => {
    if (typeof m.content === 'string') return { ...m, content: fill(m.content) }
    if (!Array.isArray(m.content)) return { ...m }
    return {
      ...m,
      content: m.content.map((part) =>
        part.type === 'text' && typeof part.text === 'string'
          ? { ...part, text: fill(part.text) }
          : part,
      ),
    }
  })
  return { ok: true, messages }
}

/**
 * What a prompt store answers for a resolved version (`gateway_resolve_prompt` in
 * `migrations/postgres`, and the embedded store alike).
 */
export const ResolvedPromptSchema = z.object({
  prompt_id: z.string().regex(PROMPT_ID),
  version: z.number().int().positive(),
  template: PromptTemplateSchema,
})

export type ResolvedPrompt = z.infer<typeof ResolvedPromptSchema>

/**
 * Which version a selector picks among `versions` (ascending) given the prompt's `labels`: a
 * number picks that version, a label the version it points at, none the `production` label's
 * version, else the latest. `undefined` when there is no such version.
 */
export const selectVersion = (
  versions: readonly number[],
  labels: Readonly<Record<string, number>>,
  selector: string | undefined,
): number | undefined => {
  const exists = (v: number | undefined): number | undefined =>
    v !== undefined && versions.includes(v) ? v : undefined
  if (selector === undefined) return exists(labels[DEFAULT_LABEL]) ?? versions.at(-1)
  if (/^[0-9]+$/.test(selector)) return exists(Number(selector))
  return exists(labels[selector])
}
