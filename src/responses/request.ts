/**
 * @module A Responses API request (`POST /v1/responses`) as the canonical chat completion the
 * pipeline carries, pure: every provider then sees what it sees for chat completions.
 *
 * | Responses                                        | chat completion                                  |
 * |--------------------------------------------------|--------------------------------------------------|
 * | `instructions`                                   | a first `system` message                         |
 * | `input` string                                   | one `user` message                               |
 * | message items (`user`/`assistant`/`system`/`developer`; string or `input_text`/`input_image`/`output_text`/`refusal` parts) | messages (`text` and `image_url` parts) |
 * | consecutive `function_call` items                | one `assistant` message with `tool_calls` (`id` = `call_id`) |
 * | `function_call_output`                           | a `tool` message (`tool_call_id` = `call_id`)    |
 * | `reasoning` items                                | dropped (no provider takes another's reasoning)  |
 * | flat function `tools`                            | `tools` (`{type: function, function: {…}}`)      |
 * | `tool_choice` `{type: function, name}`           | `{type: function, function: {name}}`             |
 * | `text.format` `json_object` / `json_schema`      | `response_format`                                |
 * | `text.verbosity`                                 | `verbosity`                                      |
 * | `max_output_tokens`, `reasoning.effort`          | `max_completion_tokens`, `reasoning_effort`      |
 * | `temperature`, `top_p`, `parallel_tool_calls`, `user`, `stream` | the same (`stream_options.include_usage` when streaming) |
 *
 * `previous_response_id` and `item_reference` items are resolved before this translation, from
 * stored answers (`references.ts`, the entry stage); one that reaches it unresolved is refused.
 * Refused (400 naming the field): `conversation`, `background: true`, and tools other than
 * functions (hosted tools run on OpenAI's side). `store`, `include`, `metadata` and `truncation`
 * are not sent on (the answer echoes `store` and the metadata). Any other field is kept as sent, as
 * for chat completions.
 */
import { GatewayError } from '../errors'
import { isRecord, type Json } from '../providers/fields'

/** What the answer echoes of the request (the Response object repeats its parameters). */
export type ResponseEcho = {
  readonly model: string
  readonly instructions: string | null
  readonly tools: readonly unknown[]
  readonly toolChoice: unknown
  readonly parallelToolCalls: boolean
  readonly text: unknown
  readonly temperature: number | null
  readonly topP: number | null
  readonly maxOutputTokens: number | null
  readonly reasoning: unknown
  readonly metadata: Readonly<Record<string, string>>
  readonly user: string | null
  /** Whether the answer is kept for later references (`store`, true unless `false`). */
  readonly store: boolean
}

const refuse = (param: string, message: string): never => {
  throw new GatewayError('INVALID_REQUEST', message, { param })
}

/** Fields the Responses API has and chat completions do not: translated or dropped here. */
const RESPONSES_ONLY = new Set([
  'input',
  'instructions',
  'tools',
  'tool_choice',
  'text',
  'max_output_tokens',
  'reasoning',
  'store',
  'include',
  'metadata',
  'truncation',
  'previous_response_id',
  'conversation',
  'background',
  'stream_options',
  'max_tool_calls',
])

const partOf = (part: unknown, at: string): Json => {
  if (!isRecord(part)) return refuse(at, `Invalid '${at}': a content part must be an object.`)
  switch (part.type) {
    case 'input_text':
    case 'output_text':
    case 'text':
      if (typeof part.text !== 'string') return refuse(`${at}.text`, `Invalid '${at}.text'.`)
      return { type: 'text', text: part.text }
    case 'refusal':
      return { type: 'text', text: typeof part.refusal === 'string' ? part.refusal : '' }
    case 'input_image': {
      const url = typeof part.image_url === 'string' ? part.image_url : undefined
      if (url === undefined) {
        return refuse(
          `${at}.image_url`,
          `Invalid '${at}': an input_image needs an image_url (a URL or a data: URL); file_id ` +
            'references need stored files, which this gateway does not keep.',
        )
      }
      const detail = typeof part.detail === 'string' ? { detail: part.detail } : {}
      return { type: 'image_url', image_url: { url, ...detail } }
    }
    default:
      return refuse(
        `${at}.type`,
        `Unsupported content part type '${String(part.type)}' in '${at}' ` +
          '(input_text, input_image and output_text are supported).',
      )
  }
}

const contentOf = (content: unknown, at: string): string | Json[] => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) {
    return refuse(at, `Invalid '${at}': a string or a list of content parts.`)
  }
  return content.map((part, i) => partOf(part, `${at}[${String(i)}]`))
}

/** `content` as plain text (assistant and system messages take text). */
const textOf = (content: string | Json[]): string | Json[] =>
  typeof content === 'string' || content.some((p) => p.type !== 'text')
    ? content
    : content.map((p) => String(p.text)).join('')

const ROLES = new Set(['user', 'assistant', 'system', 'developer'])

/** The `input` items as chat messages. */
const messagesOf = (input: unknown): Json[] => {
  if (typeof input === 'string') return [{ role: 'user', content: input }]
  if (!Array.isArray(input)) return refuse('input', "Invalid 'input': a string or a list of items.")
  const messages: Json[] = []
  /** The assistant message collecting consecutive function calls, while it is the last one. */
  let calls: Json[] | undefined
  input.forEach((item: unknown, i) => {
    const at = `input[${String(i)}]`
    if (!isRecord(item)) return refuse(at, `Invalid '${at}': an item must be an object.`)
    const type = item.type ?? (item.role === undefined ? undefined : 'message')
    switch (type) {
      case 'message': {
        calls = undefined
        const role = item.role
        if (typeof role !== 'string' || !ROLES.has(role)) {
          return refuse(`${at}.role`, `Invalid '${at}.role': user, assistant, system or developer.`)
        }
        const content = contentOf(item.content, `${at}.content`)
        messages.push({ role, content: role === 'user' ? content : textOf(content) })
        return
      }
      case 'function_call': {
        const { call_id, name, arguments: args } = item
        if (typeof call_id !== 'string' || typeof name !== 'string') {
          return refuse(at, `Invalid '${at}': a function_call needs call_id and name.`)
        }
        const call = {
          id: call_id,
          type: 'function',
          function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) },
        }
        if (calls === undefined) {
          calls = [call]
          messages.push({ role: 'assistant', content: null, tool_calls: calls })
        } else {
          calls.push(call)
        }
        return
      }
      case 'function_call_output': {
        calls = undefined
        if (typeof item.call_id !== 'string') {
          return refuse(`${at}.call_id`, `Invalid '${at}': a function_call_output needs call_id.`)
        }
        const output = item.output
        messages.push({
          role: 'tool',
          tool_call_id: item.call_id,
          content:
            typeof output === 'string'
              ? output
              : Array.isArray(output)
                ? textOf(contentOf(output, `${at}.output`))
                : JSON.stringify(output),
        })
        return
      }
      case 'reasoning':
        return // another model's reasoning: no provider takes it back
      case 'item_reference':
        return refuse(at, `'${at}' is an item_reference to no stored item; send the item itself.`)
      default:
        return refuse(
          `${at}.type`,
          `Unsupported input item type '${JSON.stringify(type ?? null)}' in '${at}' (message, function_call, ` +
            'function_call_output and reasoning are supported).',
        )
    }
  })
  return messages
}

const toolsOf = (tools: unknown): Json[] | undefined => {
  if (tools === undefined || tools === null) return undefined
  if (!Array.isArray(tools)) return refuse('tools', "Invalid 'tools': a list of tools.")
  return tools.map((tool: unknown, i) => {
    const at = `tools[${String(i)}]`
    if (!isRecord(tool) || tool.type !== 'function') {
      return refuse(
        `${at}.type`,
        `Unsupported tool in '${at}': only function tools are supported (hosted tools such as ` +
          'web_search or file_search run on OpenAI’s side).',
      )
    }
    if (typeof tool.name !== 'string') return refuse(`${at}.name`, `Invalid '${at}.name'.`)
    const fn: Json = { name: tool.name }
    if (typeof tool.description === 'string') fn.description = tool.description
    if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict
    return { type: 'function', function: fn }
  })
}

const toolChoiceOf = (choice: unknown): unknown => {
  if (choice === undefined || choice === null || typeof choice === 'string') return choice
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    return { type: 'function', function: { name: choice.name } }
  }
  return refuse('tool_choice', "Invalid 'tool_choice': auto, none, required, or a function.")
}

const responseFormatOf = (text: unknown): Json | undefined => {
  if (text === undefined || text === null) return undefined
  if (!isRecord(text)) return refuse('text', "Invalid 'text': an object.")
  const format = text.format
  if (format === undefined || format === null) return undefined
  if (!isRecord(format)) return refuse('text.format', "Invalid 'text.format'.")
  switch (format.type) {
    case 'text':
      return undefined
    case 'json_object':
      return { type: 'json_object' }
    case 'json_schema': {
      if (typeof format.name !== 'string' || !isRecord(format.schema)) {
        return refuse('text.format', "Invalid 'text.format': json_schema needs name and schema.")
      }
      const schema: Json = { name: format.name, schema: format.schema }
      if (typeof format.description === 'string') schema.description = format.description
      if (typeof format.strict === 'boolean') schema.strict = format.strict
      return { type: 'json_schema', json_schema: schema }
    }
    default:
      return refuse(
        'text.format.type',
        "Invalid 'text.format.type': text, json_object or json_schema.",
      )
  }
}

/** `text.verbosity`, which chat completions take as `verbosity` (`low`, `medium`, `high`). */
const verbosityOf = (text: unknown): string | undefined => {
  if (!isRecord(text) || text.verbosity === undefined || text.verbosity === null) return undefined
  if (text.verbosity === 'low' || text.verbosity === 'medium' || text.verbosity === 'high') {
    return text.verbosity
  }
  return refuse('text.verbosity', "Invalid 'text.verbosity': low, medium or high.")
}

const numberOrNull = (value: unknown): number | null => (typeof value === 'number' ? value : null)

/** A function tool as the answer echoes it: every field the spec's `FunctionTool` requires. */
const echoTool = (tool: unknown): unknown =>
  isRecord(tool)
    ? {
        type: 'function',
        name: tool.name,
        description: typeof tool.description === 'string' ? tool.description : null,
        parameters: isRecord(tool.parameters) ? tool.parameters : null,
        strict: typeof tool.strict === 'boolean' ? tool.strict : null,
      }
    : tool

/**
 * The chat completion body for a Responses request, and what the answer echoes. `prompted`: a
 * prompt template may supply the input (`floopy-prompt-id`).
 */
export const responsesToChat = (
  body: unknown,
  prompted = false,
): { chat: Json; echo: ResponseEcho } => {
  if (!isRecord(body)) return refuse('body', 'The request body must be a JSON object.')
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    refuse(
      'previous_response_id',
      "'previous_response_id' names no stored response here; send the whole conversation in " +
        'input instead.',
    )
  }
  if (body.conversation !== undefined && body.conversation !== null) {
    refuse(
      'conversation',
      "'conversation' objects are not kept by this gateway; use previous_response_id or send the whole conversation.",
    )
  }
  if (body.background === true) {
    refuse(
      'background',
      "'background' responses are not supported by this gateway; send the request without it.",
    )
  }
  const chat: Json = {}
  for (const [name, value] of Object.entries(body)) {
    if (!RESPONSES_ONLY.has(name)) chat[name] = value
  }
  const messages: Json[] = []
  const instructions = typeof body.instructions === 'string' ? body.instructions : null
  if (body.instructions !== undefined && body.instructions !== null && instructions === null) {
    refuse('instructions', "Invalid 'instructions': a string.")
  }
  if (instructions !== null) messages.push({ role: 'system', content: instructions })
  if (body.input !== undefined) messages.push(...messagesOf(body.input))
  else if (!prompted) refuse('input', "'input' is required: a string or a list of items.")
  if (messages.length > 0 || !prompted) chat.messages = messages
  const tools = toolsOf(body.tools)
  if (tools !== undefined && tools.length > 0) chat.tools = tools
  const toolChoice = toolChoiceOf(body.tool_choice)
  if (toolChoice !== undefined && toolChoice !== null) chat.tool_choice = toolChoice
  const format = responseFormatOf(body.text)
  if (format !== undefined) chat.response_format = format
  const verbosity = verbosityOf(body.text)
  if (verbosity !== undefined) chat.verbosity = verbosity
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    chat.max_completion_tokens = body.max_output_tokens
  }
  const reasoning = body.reasoning
  if (isRecord(reasoning) && typeof reasoning.effort === 'string') {
    chat.reasoning_effort = reasoning.effort
  }
  if (body.stream === true) chat.stream_options = { include_usage: true }
  const metadata = isRecord(body.metadata)
    ? Object.fromEntries(Object.entries(body.metadata).map(([k, v]) => [k, String(v)]))
    : {}
  return {
    chat,
    echo: {
      model: typeof body.model === 'string' ? body.model : '',
      instructions,
      tools: Array.isArray(body.tools) ? body.tools.map(echoTool) : [],
      toolChoice: body.tool_choice ?? 'auto',
      parallelToolCalls: body.parallel_tool_calls !== false,
      text: isRecord(body.text) ? body.text : { format: { type: 'text' } },
      temperature: numberOrNull(body.temperature),
      topP: numberOrNull(body.top_p),
      maxOutputTokens: numberOrNull(body.max_output_tokens),
      reasoning: isRecord(reasoning) ? reasoning : null,
      metadata,
      user: typeof body.user === 'string' ? body.user : null,
      store: body.store !== false,
    },
  }
}
