/**
 * @module What both front doors to Claude — Anthropic's Messages API (`request.ts`) and Bedrock's
 * Converse API (`../bedrock/request.ts`) — check the same way in a client's OpenAI body: the
 * fields neither can honour (400 `UNSUPPORTED_BY_PROVIDER`), `reasoning_effort` as a thinking
 * budget that fits the output limit, function tools, the `response_format` types, and an
 * assistant turn's text and tool calls (`messages.ts` of each). Each door names itself in the
 * 400s (`Door`); the checks, and what they accept, are one.
 */
import { GatewayError } from '../../errors'
import { invalid, isRecord, stringAt, unsupported, type Json } from '../fields'

/** How one front door names itself in the 400s below. */
export type Door = {
  /** The subject and its verb, for "… one choice per request": `Anthropic models return`. */
  readonly returns: string
  /** The subject and its negation, for "… return log probabilities": `Anthropic models do not`. */
  readonly doesNot: string
  /** For "Web search is not available … through this gateway": `for Anthropic models`. */
  readonly where: string
  /** For "… are translated …" and "not translated …": `for Anthropic models`. */
  readonly forWhom: string
  /** Who needs the output tokens, for "With 'reasoning_effort', … needs more …": `Anthropic`. */
  readonly thinker: string
}

/** `reasoning_effort` → thinking budget (tokens); see `request.ts`'s module doc. */
export const THINKING_BUDGETS: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
}
/** Anthropic's least thinking budget. */
const MIN_THINKING_BUDGET = 1024

/** 400 for what a Claude door cannot honour: the client would silently get something else. */
export const rejectUnsupported = (body: Readonly<Json>, door: Door): void => {
  const n = body.n
  if (n != null && n !== 1) {
    throw unsupported(`${door.returns} one choice per request; send n: 1.`, 'n')
  }
  if (body.logprobs === true || (typeof body.top_logprobs === 'number' && body.top_logprobs > 0)) {
    throw unsupported(`${door.doesNot} return log probabilities.`, 'logprobs')
  }
  const modalities = body.modalities
  if (body.audio != null || (Array.isArray(modalities) && modalities.includes('audio'))) {
    throw unsupported(`${door.doesNot} produce audio.`, 'modalities')
  }
  if (body.web_search_options != null) {
    throw unsupported(
      `Web search is not available ${door.where} through this gateway.`,
      'web_search_options',
    )
  }
  for (const param of ['functions', 'function_call']) {
    if (body[param] != null) {
      throw unsupported(
        `'${param}' is deprecated and not translated ${door.forWhom}; ` +
          `send 'tools' and 'tool_choice'.`,
        param,
      )
    }
  }
}

/** What the response side needs to know about the request (both sides use the same rules). */
export type ResponsePlan = {
  /** The client asked for reasoning: thinking text is returned as `reasoning_content`. */
  readonly showReasoning: boolean
  /** Name of the forced tool whose input is the answer (`response_format`); none when unforced. */
  readonly jsonTool: string | undefined
}

/** Whether the client asked for reasoning (any `reasoning_effort` but `none`). */
export const showsReasoning = (body: Readonly<Json>): boolean =>
  typeof body.reasoning_effort === 'string' && body.reasoning_effort !== 'none'

/** The budget `reasoning_effort` asks for; `undefined` for none; 400 for an unknown effort. */
export const thinkingBudgetOf = (effort: unknown): number | undefined => {
  if (effort == null || effort === 'none') return undefined
  const budget = typeof effort === 'string' ? THINKING_BUDGETS[effort] : undefined
  if (budget === undefined) {
    throw invalid(
      `'reasoning_effort' must be one of none, ${Object.keys(THINKING_BUDGETS).join(', ')}.`,
      'reasoning_effort',
    )
  }
  return budget
}

/**
 * `budget` fitted to the output limit: at most half of `maxTokens`, never below Anthropic's
 * minimum, and below `maxTokens` (thinking counts within it), else 400 naming the field that set
 * the limit (`setBy`).
 */
export const fitThinkingBudget = (
  budget: number,
  maxTokens: number,
  setBy: string | undefined,
  door: Door,
): number => {
  const fitted = Math.min(budget, Math.max(MIN_THINKING_BUDGET, Math.floor(maxTokens / 2)))
  if (fitted >= maxTokens) {
    const param = setBy ?? 'max_completion_tokens'
    throw unsupported(
      `With 'reasoning_effort', ${door.thinker} needs more than ${String(MIN_THINKING_BUDGET)} ` +
        `output tokens (thinking counts within them); raise '${param}'.`,
      param,
    )
  }
  return fitted
}

/** A client's function tool, checked: its name, and its `function` object as sent. */
export type FunctionTool = { readonly name: string; readonly fn: Json }

/** The client's `tools`, each a function tool with a name; 400 for anything else. */
export const functionTools = (raw: unknown, door: Door): FunctionTool[] => {
  if (raw == null) return []
  if (!Array.isArray(raw)) throw invalid(`'tools' must be an array.`, 'tools')
  return raw.map((tool: unknown, i) => {
    const at = `tools.${String(i)}`
    if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function)) {
      throw unsupported(`'${at}': only function tools are translated ${door.forWhom}.`, at)
    }
    return { name: stringAt(tool.function.name, `${at}.function.name`), fn: tool.function }
  })
}

/** The kind of answer `response_format` asks for; `undefined` when absent; 400 when malformed. */
export const responseFormatType = (
  format: unknown,
): 'text' | 'json_object' | 'json_schema' | undefined => {
  if (format == null) return undefined
  if (!isRecord(format) || typeof format.type !== 'string') {
    throw invalid(`'response_format' must be an object with a type.`, 'response_format')
  }
  const { type } = format
  if (type !== 'text' && type !== 'json_object' && type !== 'json_schema') {
    throw unsupported(
      `'response_format.type' must be text, json_object or json_schema.`,
      'response_format',
    )
  }
  return type
}

/** An assistant turn's text: its string, or its text and refusal parts (with the part, for hints). */
export const assistantTexts = (
  message: Json,
  at: string,
): { readonly text: string; readonly part?: Json }[] => {
  const content = message.content
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }]
  if (content == null) return []
  if (!Array.isArray(content)) {
    throw invalid(`'${at}.content' must be a string, an array of parts or null.`, `${at}.content`)
  }
  const texts: { text: string; part: Json }[] = []
  content.forEach((part: unknown, j) => {
    const where = `${at}.content.${String(j)}`
    if (!isRecord(part)) throw invalid(`'${where}' must be an object.`, where)
    const text = part.type === 'refusal' ? part.refusal : part.text
    if ((part.type !== 'text' && part.type !== 'refusal') || typeof text !== 'string') {
      throw invalid(`'${where}' must be a text or refusal part.`, where)
    }
    if (text !== '') texts.push({ text, part })
  })
  return texts
}

/** A tool call of an assistant turn, as Claude takes it: its id, name and input object. */
export type ToolCall = { readonly id: string; readonly name: string; readonly input: Json }

/**
 * Tool call `j` of the assistant message at `at`, checked: a function call with an id and a name,
 * whose arguments are a JSON object (Claude takes the input as an object; `provider` names who
 * needs it in the 400, which also names the message by its number).
 */
export const toolCallOf = (call: unknown, at: string, j: number, provider: string): ToolCall => {
  const where = `${at}.tool_calls.${String(j)}`
  if (!isRecord(call) || !isRecord(call.function) || typeof call.id !== 'string') {
    throw invalid(`'${where}' must be a function tool call with an id.`, where)
  }
  const name = stringAt(call.function.name, `${where}.function.name`)
  const args = call.function.arguments ?? ''
  const param = `${where}.function.arguments`
  let input: unknown
  try {
    input = args === '' ? {} : JSON.parse(stringAt(args, param))
  } catch (err) {
    if (err instanceof GatewayError) throw err
    input = undefined
  }
  if (!isRecord(input)) {
    throw invalid(
      `'${param}' (message ${at.slice('messages.'.length)}) must be a JSON object: ` +
        `${provider} needs the tool input as an object.`,
      param,
    )
  }
  return { id: call.id, name, input }
}
