/**
 * @module Translates an OpenAI chat request into Gemini's `GenerateContentRequest`.
 *
 * Sources: specs/openai/openapi.yaml (`CreateChatCompletionRequest`), the v1beta protos and
 * specs/gemini/NOTES.md (with the js-genai recordings, which this translation reproduces).
 * `null` means "not set" everywhere.
 *
 * | OpenAI                                  | Gemini (`generationConfig.` shortened to `.`)     |
 * | --------------------------------------- | ------------------------------------------------- |
 * | `model`, `stream`                       | the URL (`model.ts`)                              |
 * | `stream_options`                        | used by the gateway (the usage chunk)             |
 * | `messages`                              | `systemInstruction` and `contents` (below)        |
 * | `temperature`, `top_p`, `seed`          | `.temperature`, `.topP`, `.seed`                  |
 * | `presence_penalty`, `frequency_penalty` | `.presencePenalty`, `.frequencyPenalty`           |
 * | `max_completion_tokens`, `max_tokens`   | `.maxOutputTokens` (the first when both are set)  |
 * | `stop` (string or array)                | `.stopSequences`                                  |
 * | `n` above 1                             | `.candidateCount` (one choice per candidate)      |
 * | `response_format` `json_object`         | `.responseMimeType: 'application/json'`           |
 * | `response_format` `json_schema`         | the same, and `.responseJsonSchema` (the schema)  |
 * | `reasoning_effort`                      | `.thinkingConfig` (below)                         |
 * | `tools` of type `function`              | `tools[0].functionDeclarations` (below)           |
 * | `tool_choice`                           | `toolConfig.functionCallingConfig` (below)        |
 * | `user`, `metadata`, `store`,            | dropped and named in `floopy-dropped-params`:     |
 * | `service_tier`, `safety_identifier`,    | hints and bookkeeping Gemini has no field for;    |
 * | `prompt_cache_*`, `prediction`,         | ignoring them leaves the answer's shape intact    |
 * | `verbosity`, `moderation`,              |                                                   |
 * | `logit_bias`, `parallel_tool_calls:     |                                                   |
 * | false`, and any field OpenAI does not   |                                                   |
 * | define                                  |                                                   |
 * | `logprobs: true`, `top_logprobs`,       | 400 `UNSUPPORTED_BY_PROVIDER` naming the field:   |
 * | `audio`, `modalities` beyond text,      | the client would wait for output this translation |
 * | `web_search_options`, `functions`,      | cannot give                                       |
 * | `function_call`                         |                                                   |
 *
 * Schemas go as JSON Schema (`parametersJsonSchema`, `responseJsonSchema`; both recorded against
 * the live API in js-genai), so nothing is converted to the OpenAPI-subset `Schema` and no keyword
 * is lost on the way; what a model does not support, Gemini reports itself (400).
 *
 * `reasoning_effort`: Gemini 3 and later take `thinkingLevel`: minimal, low, medium, high →
 * MINIMAL, LOW, MEDIUM, HIGH; xhigh, max → HIGH; none → MINIMAL (thinking cannot be turned off
 * there). Other models (2.x, `-latest` aliases, unknown names) take `thinkingBudget`, which Gemini
 * 3 accepts too: none 0, minimal 512, low 1024, medium 8192, high/xhigh/max 24576 (the budgets
 * Google's own OpenAI endpoint uses for low, medium and high). Any effort but none also sets
 * `includeThoughts: true`, and the thoughts come back as `reasoning_content`.
 *
 * `tool_choice`: auto → AUTO, none → NONE, required → ANY, a named function → ANY with
 * `allowedFunctionNames: [name]`; `allowed_tools` keeps only the listed declarations, with AUTO
 * (`mode: auto`) or ANY (`mode: required`).
 *
 * Messages:
 * - `system`, `developer` → `systemInstruction` parts, wherever they appear;
 * - `user` → role `user`;
 * - `assistant` → role `model`: its text, then one `functionCall` part per tool call, `arguments`
 *   parsed as a JSON object (else a 400 naming the message), the thought signature restored from
 *   the tool-call id (`tool-call-id.ts`); for Gemini 3, a turn whose calls carry no signature at
 *   all gets Google's documented stand-in on its first call;
 * - `tool` → a `functionResponse` part in a `user` turn, named after the call it answers (looked
 *   up by `tool_call_id` among the earlier tool calls, else the message's `name`, else a 400), its
 *   `response` the content when that is a JSON object and `{ output: … }` otherwise (`output` is
 *   the key `FunctionResponse` documents for a function's result);
 * - consecutive turns of one role are merged into one `Content`, so parallel tool results form
 *   one turn; `name` fields and assistant `refusal`/`audio` are not sent.
 *
 * User content parts: `text`; `image_url` with a `data:` URL → `inlineData`, with an `https:` URL
 * → `fileData` when the path's extension names an image type Gemini accepts (png, jpg/jpeg, webp,
 * heic, heif) — any other URL is refused with a 400 asking for a data URL, since Gemini needs the
 * MIME type and the gateway does not fetch client URLs; `input_audio` → `inlineData`
 * (`audio/wav`, `audio/mp3`); `file` with `file_data` as a data URL → `inlineData` (an OpenAI
 * `file_id` means nothing to Gemini: 400).
 */
import { GatewayError } from '../../errors'
import { FOREIGN_SIGNATURE, signatureOf } from './tool-call-id'
import { isRecord, parseJson, type Json } from '../fields'
import type {
  GeminiContent,
  GeminiFunctionDeclaration,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiThinkingConfig,
  GeminiToolConfig,
  GenerateContentRequest,
} from './types'

export type TranslatedChat = {
  readonly request: GenerateContentRequest
  /** Top-level fields not sent, for `floopy-dropped-params`. */
  readonly dropped: readonly string[]
}

/** Fields translated below, used by the gateway, or checked by `droppedFields`. */
const TRANSLATED = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'n',
  'stop',
  'max_tokens',
  'max_completion_tokens',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'response_format',
  'tools',
  'tool_choice',
  'reasoning_effort',
  'parallel_tool_calls',
  'logprobs',
  'top_logprobs',
  'modalities',
])

/** Fields whose absence would leave the client without output it asked for. */
const REFUSED: Readonly<Record<string, string>> = {
  audio: 'audio output',
  web_search_options: 'web search',
  functions: "the deprecated 'functions' (use 'tools')",
  function_call: "the deprecated 'function_call' (use 'tool_choice')",
}

const invalid = (param: string, message: string): GatewayError =>
  new GatewayError('INVALID_REQUEST', `Invalid '${param}': ${message}`, { param })

const unsupported = (param: string, what: string): GatewayError => {
  const message = `Gemini does not support ${what} through the gateway.`
  return new GatewayError('UNSUPPORTED_BY_PROVIDER', message, { param })
}

const optionalNumber = (body: Json, key: string, integer = false): number | undefined => {
  const value = body[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
    throw invalid(key, `must be ${integer ? 'an integer' : 'a number'}.`)
  return value
}

/** The text of a string content or of an array of `text` (and `refusal`) parts. */
const textOf = (content: unknown, param: string): string | undefined => {
  if (content === undefined || content === null) return undefined
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(param, 'must be a string or an array of parts.')
  return content
    .map((part: unknown, i) => {
      if (isRecord(part) && part.type === 'text' && typeof part.text === 'string') return part.text
      if (isRecord(part) && part.type === 'refusal' && typeof part.refusal === 'string')
        return part.refusal
      throw invalid(`${param}.${i}`, 'only text parts are accepted here.')
    })
    .join('')
}

/** Image types Gemini accepts, by file extension (for `https:` image URLs). */
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)(?:;[^;,]*)*;base64,([A-Za-z0-9+/_-]*={0,2})$/

const inlineData = (url: string, param: string): GeminiPart => {
  const match = DATA_URL.exec(url)
  if (match?.[1] === undefined || match[2] === undefined)
    throw invalid(param, "a 'data:' URL must be 'data:<mime type>;base64,<data>'.")
  return { inlineData: { mimeType: match[1], data: match[2] } }
}

const imagePart = (url: unknown, param: string): GeminiPart => {
  if (typeof url !== 'string') throw invalid(param, 'must be a string.')
  if (url.startsWith('data:')) return inlineData(url, param)
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  const extension = /\.([A-Za-z0-9]+)$/.exec(parsed?.pathname ?? '')?.[1]?.toLowerCase()
  const mimeType = extension === undefined ? undefined : IMAGE_TYPES[extension]
  if (parsed?.protocol !== 'https:' || mimeType === undefined) {
    throw invalid(
      param,
      'Gemini needs the image type and the gateway does not fetch images: send an https URL ' +
        "ending in .png, .jpg, .jpeg, .webp, .heic or .heif, or the image as a 'data:' URL.",
    )
  }
  return { fileData: { fileUri: url, mimeType } }
}

const AUDIO_TYPES: Readonly<Record<string, string>> = { wav: 'audio/wav', mp3: 'audio/mp3' }

const userPart = (part: unknown, param: string): GeminiPart => {
  if (!isRecord(part)) throw invalid(param, 'must be a content part object.')
  switch (part.type) {
    case 'text':
      if (typeof part.text !== 'string') throw invalid(`${param}.text`, 'must be a string.')
      return { text: part.text }
    case 'image_url':
      return imagePart(
        isRecord(part.image_url) ? part.image_url.url : undefined,
        `${param}.image_url.url`,
      )
    case 'input_audio': {
      const audio = isRecord(part.input_audio) ? part.input_audio : {}
      const mimeType = typeof audio.format === 'string' ? AUDIO_TYPES[audio.format] : undefined
      if (mimeType === undefined || typeof audio.data !== 'string')
        throw invalid(`${param}.input_audio`, "needs base64 'data' and a 'format' of wav or mp3.")
      return { inlineData: { mimeType, data: audio.data } }
    }
    case 'file': {
      const file = isRecord(part.file) ? part.file : {}
      if (typeof file.file_data === 'string' && file.file_data.startsWith('data:'))
        return inlineData(file.file_data, `${param}.file.file_data`)
      throw invalid(
        `${param}.file`,
        "Gemini needs the file itself: send 'file_data' as a 'data:<mime type>;base64,…' URL " +
          '(file ids are not supported).',
      )
    }
    default:
      throw invalid(`${param}.type`, `unsupported content part type '${String(part.type)}'.`)
  }
}

const userParts = (content: unknown, param: string): GeminiPart[] => {
  if (typeof content === 'string') return [{ text: content }]
  if (!Array.isArray(content)) throw invalid(param, 'must be a string or an array of parts.')
  return content.map((part: unknown, i) => userPart(part, `${param}.${i}`))
}

/** A tool call's `arguments` as the JSON object Gemini's `FunctionCall.args` is. */
const parseArguments = (value: unknown, param: string): Json => {
  if (value === undefined || value === null || value === '') return {}
  const parsed = typeof value === 'string' ? parseJson(value) : undefined
  if (!isRecord(parsed)) throw invalid(param, 'must be a JSON object encoded as a string.')
  return parsed
}

const thoughtSignatureOf = (call: Json, id: string): string | undefined => {
  const fromId = signatureOf(id)
  if (fromId !== undefined) return fromId
  const extra = isRecord(call.extra_content) ? call.extra_content.google : undefined
  return isRecord(extra) && typeof extra.thought_signature === 'string'
    ? extra.thought_signature
    : undefined
}

/**
 * Gemini 3 and later generations: they take `thinkingLevel` and require the thought signatures of
 * the current turn's function calls back.
 */
const isGemini3 = (model: string): boolean => {
  const major = /^(?:models\/|tunedModels\/)?gemini-(\d+)/.exec(model)?.[1]
  return major !== undefined && Number(major) >= 3
}

const functionCallParts = (
  toolCalls: unknown,
  param: string,
  names: Map<string, string>,
  needsSignature: boolean,
): GeminiPart[] => {
  if (toolCalls === undefined || toolCalls === null) return []
  if (!Array.isArray(toolCalls)) throw invalid(param, 'must be an array.')
  const parts = toolCalls.map((call: unknown, j): GeminiPart => {
    const at = `${param}.${j}`
    if (!isRecord(call) || call.type !== 'function' || !isRecord(call.function))
      throw invalid(at, "only tool calls of type 'function' can be sent to Gemini.")
    const { name } = call.function
    if (typeof name !== 'string' || name === '')
      throw invalid(`${at}.function.name`, 'is required.')
    const id = typeof call.id === 'string' ? call.id : ''
    if (id !== '') names.set(id, name)
    const args = parseArguments(call.function.arguments, `${at}.function.arguments`)
    const signature = thoughtSignatureOf(call, id)
    return signature === undefined
      ? { functionCall: { name, args } }
      : { functionCall: { name, args }, thoughtSignature: signature }
  })
  const [first] = parts
  if (
    needsSignature &&
    first !== undefined &&
    parts.every((part) => part.thoughtSignature === undefined)
  ) {
    first.thoughtSignature = FOREIGN_SIGNATURE
  }
  return parts
}

const functionResponsePart = (message: Json, param: string, names: Map<string, string>) => {
  const id = message.tool_call_id
  const name =
    (typeof id === 'string' ? names.get(id) : undefined) ??
    (typeof message.name === 'string' && message.name !== '' ? message.name : undefined)
  if (name === undefined) {
    throw invalid(
      `${param}.tool_call_id`,
      'does not match a tool call of an earlier assistant message ' +
        '(Gemini needs the function name).',
    )
  }
  const text = textOf(message.content, `${param}.content`) ?? ''
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = text
  }
  const response = isRecord(parsed) ? parsed : { output: parsed }
  return { functionResponse: { name, response } } satisfies GeminiPart
}

type Translated = { contents: GeminiContent[]; system: GeminiPart[] }

const translateMessages = (messages: unknown, model: string): Translated => {
  if (!Array.isArray(messages)) throw invalid('messages', 'must be an array.')
  const contents: GeminiContent[] = []
  const system: GeminiPart[] = []
  const names = new Map<string, string>()
  const push = (role: 'user' | 'model', parts: GeminiPart[]): void => {
    if (parts.length === 0) return
    const last = contents.at(-1)
    if (last?.role === role && last.parts !== undefined) last.parts.push(...parts)
    else contents.push({ parts, role })
  }
  messages.forEach((message: unknown, i) => {
    const param = `messages.${i}`
    if (!isRecord(message)) throw invalid(param, 'must be a message object.')
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content, `${param}.content`)
        if (text !== undefined && text !== '') system.push({ text })
        return
      }
      case 'user':
        push('user', userParts(message.content, `${param}.content`))
        return
      case 'assistant': {
        const text = textOf(message.content, `${param}.content`)
        const parts: GeminiPart[] = text === undefined || text === '' ? [] : [{ text }]
        parts.push(
          ...functionCallParts(message.tool_calls, `${param}.tool_calls`, names, isGemini3(model)),
        )
        push('model', parts)
        return
      }
      case 'tool':
        push('user', [functionResponsePart(message, param, names)])
        return
      default:
        throw invalid(
          `${param}.role`,
          `'${String(message.role)}' is not a role Gemini can take ` +
            '(system, developer, user, assistant, tool).',
        )
    }
  })
  if (contents.length === 0) {
    throw invalid('messages', 'must contain at least one user or assistant message for Gemini.')
  }
  return { contents, system }
}

const functionDeclarations = (tools: unknown): GeminiFunctionDeclaration[] => {
  if (!Array.isArray(tools)) throw invalid('tools', 'must be an array.')
  return tools.map((tool: unknown, i): GeminiFunctionDeclaration => {
    if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function))
      throw unsupported(`tools.${i}.type`, "tools other than type 'function'")
    const { name, description, parameters } = tool.function
    if (typeof name !== 'string' || name === '')
      throw invalid(`tools.${i}.function.name`, 'is required.')
    return {
      name,
      ...(typeof description === 'string' && { description }),
      ...(isRecord(parameters) && { parametersJsonSchema: parameters }),
    }
  })
}

const namedFunction = (choice: Json, param: string): string => {
  const fn = isRecord(choice.function) ? choice.function : {}
  if (typeof fn.name !== 'string' || fn.name === '')
    throw invalid(`${param}.function.name`, 'is required.')
  return fn.name
}

type ToolPlan = {
  readonly declarations: GeminiFunctionDeclaration[]
  readonly toolConfig: GeminiToolConfig | undefined
}

const toolPlan = (tools: unknown, choice: unknown): ToolPlan => {
  const declarations = tools === undefined || tools === null ? [] : functionDeclarations(tools)
  if (choice === undefined || choice === null) return { declarations, toolConfig: undefined }
  const config = (mode: 'AUTO' | 'ANY' | 'NONE', allowed?: string[]): GeminiToolConfig => ({
    functionCallingConfig:
      allowed === undefined ? { mode } : { mode, allowedFunctionNames: allowed },
  })
  if (choice === 'auto') return { declarations, toolConfig: config('AUTO') }
  if (choice === 'none') return { declarations, toolConfig: config('NONE') }
  if (choice === 'required') return { declarations, toolConfig: config('ANY') }
  if (isRecord(choice) && choice.type === 'function') {
    return { declarations, toolConfig: config('ANY', [namedFunction(choice, 'tool_choice')]) }
  }
  if (isRecord(choice) && choice.type === 'allowed_tools' && isRecord(choice.allowed_tools)) {
    const { mode, tools: allowed } = choice.allowed_tools
    if ((mode !== 'auto' && mode !== 'required') || !Array.isArray(allowed))
      throw invalid('tool_choice.allowed_tools', "needs a 'mode' (auto or required) and 'tools'.")
    const names = new Set(
      allowed.map((tool: unknown, i) =>
        namedFunction(isRecord(tool) ? tool : {}, `tool_choice.allowed_tools.tools.${i}`),
      ),
    )
    return {
      declarations: declarations.filter((d) => d.name !== undefined && names.has(d.name)),
      toolConfig: config(mode === 'auto' ? 'AUTO' : 'ANY'),
    }
  }
  throw unsupported('tool_choice', 'this tool_choice')
}

type Effort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max'

const LEVELS = {
  none: 'MINIMAL',
  minimal: 'MINIMAL',
  low: 'LOW',
  medium: 'MEDIUM',
  high: 'HIGH',
  xhigh: 'HIGH',
  max: 'HIGH',
} as const satisfies Record<Effort, GeminiThinkingConfig['thinkingLevel']>

const BUDGETS: Readonly<Record<Effort, number>> = {
  none: 0,
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 24576,
  max: 24576,
}

const isEffort = (value: unknown): value is Effort =>
  typeof value === 'string' && Object.hasOwn(BUDGETS, value)

const thinkingConfig = (effort: unknown, model: string): GeminiThinkingConfig | undefined => {
  if (effort === undefined || effort === null) return undefined
  if (!isEffort(effort))
    throw invalid('reasoning_effort', 'must be none, minimal, low, medium, high, xhigh or max.')
  const config: GeminiThinkingConfig = isGemini3(model)
    ? { thinkingLevel: LEVELS[effort] }
    : { thinkingBudget: BUDGETS[effort] }
  if (effort !== 'none') config.includeThoughts = true
  return config
}

/** The client asked for reasoning, so thought parts are returned as `reasoning_content`. */
export const wantsReasoning = (body: Readonly<Json>): boolean =>
  isEffort(body.reasoning_effort) && body.reasoning_effort !== 'none'

const stopSequences = (stop: unknown): string[] | undefined => {
  if (stop === undefined || stop === null) return undefined
  if (typeof stop === 'string') return [stop]
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string'))
    return stop.length > 0 ? stop : undefined
  throw invalid('stop', 'must be a string or an array of strings.')
}

const responseFormat = (format: unknown): GeminiGenerationConfig => {
  if (format === undefined || format === null) return {}
  if (!isRecord(format)) throw invalid('response_format', 'must be an object.')
  switch (format.type) {
    case 'text':
      return {}
    case 'json_object':
      return { responseMimeType: 'application/json' }
    case 'json_schema': {
      const spec = isRecord(format.json_schema) ? format.json_schema : {}
      return spec.schema === undefined || spec.schema === null
        ? { responseMimeType: 'application/json' }
        : { responseMimeType: 'application/json', responseJsonSchema: spec.schema }
    }
    default:
      throw unsupported('response_format.type', `response_format '${String(format.type)}'`)
  }
}

const generationConfig = (body: Readonly<Json>, model: string): GeminiGenerationConfig => {
  const config: GeminiGenerationConfig = {}
  const set = <K extends keyof GeminiGenerationConfig>(
    key: K,
    value: GeminiGenerationConfig[K] | undefined,
  ): void => {
    if (value !== undefined) config[key] = value
  }
  const n = optionalNumber(body, 'n', true)
  if (n !== undefined && n < 1) throw invalid('n', 'must be at least 1.')
  set('candidateCount', n === undefined || n === 1 ? undefined : n)
  set('stopSequences', stopSequences(body.stop))
  set(
    'maxOutputTokens',
    optionalNumber(body, 'max_completion_tokens', true) ?? optionalNumber(body, 'max_tokens', true),
  )
  set('temperature', optionalNumber(body, 'temperature'))
  set('topP', optionalNumber(body, 'top_p'))
  set('seed', optionalNumber(body, 'seed', true))
  set('presencePenalty', optionalNumber(body, 'presence_penalty'))
  set('frequencyPenalty', optionalNumber(body, 'frequency_penalty'))
  Object.assign(config, responseFormat(body.response_format))
  set('thinkingConfig', thinkingConfig(body.reasoning_effort, model))
  return config
}

/** Fields not translated: refused (400) when the client relies on them, else reported. */
const droppedFields = (body: Readonly<Json>): string[] => {
  if (body.logprobs === true) throw unsupported('logprobs', 'log probabilities')
  if (body.top_logprobs !== undefined && body.top_logprobs !== null)
    throw unsupported('top_logprobs', 'log probabilities')
  if (
    Array.isArray(body.modalities) &&
    body.modalities.some((modality: unknown) => modality !== 'text')
  )
    throw unsupported('modalities', 'output modalities other than text')
  const dropped: string[] = []
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue
    const refused = REFUSED[key]
    if (refused !== undefined) throw unsupported(key, refused)
    if (key === 'parallel_tool_calls' && value === false) dropped.push(key)
    else if (!TRANSLATED.has(key)) dropped.push(key)
  }
  return dropped
}

/** The Gemini request for an OpenAI chat request body (pure; throws 400s naming the field). */
export const toGenerateContentRequest = (body: Readonly<Json>, model: string): TranslatedChat => {
  const dropped = droppedFields(body)
  const { contents, system } = translateMessages(body.messages, model)
  const { declarations, toolConfig } = toolPlan(body.tools, body.tool_choice)
  const request: GenerateContentRequest = {
    contents,
    generationConfig: generationConfig(body, model),
  }
  if (system.length > 0) request.systemInstruction = { parts: system, role: 'user' }
  if (declarations.length > 0) request.tools = [{ functionDeclarations: declarations }]
  if (toolConfig !== undefined) request.toolConfig = toolConfig
  return { request, dropped }
}
