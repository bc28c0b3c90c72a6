/**
 * @module Builds Anthropic's `system` and alternating `messages` from OpenAI chat messages (part
 * of the request translation, `request.ts`). Pure; a message Anthropic cannot take is a 400 that
 * names it (`messages.<i>…` in `param`).
 *
 * - `system` and `developer` messages, wherever they appear, become the top-level `system` (text
 *   blocks, in order; a part's `cache_control` is kept). Anthropic has no system turns.
 * - `user` content: text parts → text blocks; `image_url` → an image block with a `url` source for
 *   http(s) URLs or a `base64` source (jpeg/png/gif/webp) for `data:` URLs (`detail` has no
 *   Anthropic equivalent and is ignored); `file` parts with a base64 PDF `file_data` → a document
 *   block. Audio, other files and OpenAI file ids → 400. `cache_control` on a part is kept.
 * - `assistant`: text (and `refusal`) parts → text blocks, empty text omitted (Anthropic rejects
 *   empty text blocks); `tool_calls` → `tool_use` blocks with `input` = the parsed arguments
 *   (arguments that are not a JSON object → 400 naming the message). A final assistant message is
 *   a prefill: Anthropic continues it.
 * - `tool` messages → `tool_result` blocks in a user turn; consecutive results share one turn.
 * - Consecutive turns of the same role are merged (Anthropic requires alternation). `name` on
 *   messages has no equivalent and is ignored. The `function` role → 400 (use `tool`).
 *
 * The walk over the roles is shared with Bedrock (`../turns.ts`); this module spells the parts.
 */
import type {
  Base64ImageSource,
  CacheControlEphemeral,
  ContentBlockParam,
  DocumentBlockParam,
  ImageBlockParam,
  TextBlockParam,
  ToolResultBlockParam,
  ToolUseBlockParam,
} from '@anthropic-ai/sdk/resources/messages'
import { invalid, isRecord, stringAt, unsupported, type Json } from '../fields'
import { walkTurns, type TurnRole, type TurnSpelling } from '../turns'
import { assistantTexts, toolCallOf } from './claude'

export type Turn = { role: TurnRole; content: string | ContentBlockParam[] }

export const translateMessages = (raw: unknown): { system: TextBlockParam[]; messages: Turn[] } => {
  const { system, turns } = walkTurns(raw, spelling)
  return { system, messages: turns }
}

/** The last assistant turn called tools: the request continues a tool loop. */
export const inToolLoop = (messages: readonly Turn[]): boolean => {
  const last = messages.findLast((turn) => turn.role === 'assistant')
  return Array.isArray(last?.content) && last.content.some((block) => block.type === 'tool_use')
}

/** Appends a turn, merging it into the previous one when the role repeats. */
const push = (turns: Turn[], role: TurnRole, content: string | ContentBlockParam[]): void => {
  const last = turns.at(-1)
  if (last?.role !== role) {
    turns.push({ role, content })
    return
  }
  last.content = [...asBlocks(last.content), ...asBlocks(content)]
}

const asBlocks = (content: string | ContentBlockParam[]): ContentBlockParam[] =>
  typeof content === 'string' ? [{ type: 'text', text: content }] : content

const cacheControlOf = (part: Json): { cache_control?: CacheControlEphemeral } =>
  isRecord(part.cache_control)
    ? { cache_control: part.cache_control as unknown as CacheControlEphemeral }
    : {}

/** Text-only content (system, developer, tool): a string or text parts. */
const textBlocks = (content: unknown, at: string): TextBlockParam[] => {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }]
  if (!Array.isArray(content)) throw invalid(`'${at}' must be a string or an array of parts.`, at)
  return content.map((part: unknown, j) => {
    const where = `${at}.${j}`
    if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw invalid(`'${where}' must be a text part.`, where)
    }
    return { type: 'text', text: part.text, ...cacheControlOf(part) }
  })
}

const userContent = (content: unknown, at: string): string | ContentBlockParam[] => {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) throw invalid(`'${at}' must be a string or an array of parts.`, at)
  return content.map((part: unknown, j): ContentBlockParam => {
    const where = `${at}.${j}`
    if (!isRecord(part)) throw invalid(`'${where}' must be an object.`, where)
    switch (part.type) {
      case 'text':
        return { type: 'text', text: stringAt(part.text, `${where}.text`), ...cacheControlOf(part) }
      case 'image_url':
        return { ...imageBlock(part.image_url, `${where}.image_url`), ...cacheControlOf(part) }
      case 'file':
        return { ...documentBlock(part.file, `${where}.file`), ...cacheControlOf(part) }
      case 'input_audio':
        throw unsupported(`'${where}': Anthropic models do not accept audio input.`, where)
      default:
        throw invalid(`'${where}.type' must be text, image_url or file.`, `${where}.type`)
    }
  })
}

const IMAGE_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
])

/** `data:<media type>[;params];base64,<data>` (RFC 2397). */
const DATA_URL = /^data:([^;,]+)(?:;[^;,]*)*;base64,(.*)$/s

const imageBlock = (image: unknown, at: string): ImageBlockParam => {
  const url = isRecord(image) ? image.url : undefined
  if (typeof url !== 'string') throw invalid(`'${at}.url' must be a string.`, `${at}.url`)
  if (url.startsWith('data:')) {
    const match = DATA_URL.exec(url)
    const mediaType = match?.[1]?.toLowerCase()
    if (match === null || mediaType === undefined || !IMAGE_TYPES.has(mediaType)) {
      throw unsupported(
        `'${at}.url': Anthropic accepts base64 data URLs of JPEG, PNG, GIF or WebP images.`,
        `${at}.url`,
      )
    }
    const source: Base64ImageSource = {
      type: 'base64',
      media_type: mediaType as Base64ImageSource['media_type'],
      data: match[2] ?? '',
    }
    return { type: 'image', source }
  }
  if (!/^https?:\/\//i.test(url)) {
    throw invalid(`'${at}.url' must be an http(s) URL or a data URL.`, `${at}.url`)
  }
  return { type: 'image', source: { type: 'url', url } }
}

const documentBlock = (file: unknown, at: string): DocumentBlockParam => {
  const data = isRecord(file) ? file.file_data : undefined
  const match = typeof data === 'string' ? DATA_URL.exec(data) : null
  if (match?.[1]?.toLowerCase() !== 'application/pdf') {
    throw unsupported(
      `'${at}': Anthropic models accept files as base64 PDF data URLs in 'file_data' ` +
        `(not file ids).`,
      at,
    )
  }
  return {
    type: 'document',
    source: { type: 'base64', media_type: 'application/pdf', data: match[2] ?? '' },
  }
}

const assistantContent = (message: Json, at: string): ContentBlockParam[] => {
  const blocks: ContentBlockParam[] = assistantTexts(message, at).map(({ text, part }) => ({
    type: 'text',
    text,
    ...(part === undefined ? {} : cacheControlOf(part)),
  }))
  const calls = message.tool_calls
  if (Array.isArray(calls)) {
    calls.forEach((call: unknown, j) => {
      const { id, name, input } = toolCallOf(call, at, j, 'Anthropic')
      blocks.push({ type: 'tool_use', id, name, input } satisfies ToolUseBlockParam)
    })
  }
  return blocks
}

const toolResult = (message: Json, at: string): ToolResultBlockParam => {
  const id = stringAt(message.tool_call_id, `${at}.tool_call_id`)
  const content = message.content
  if (typeof content === 'string') return { type: 'tool_result', tool_use_id: id, content }
  return { type: 'tool_result', tool_use_id: id, content: textBlocks(content, `${at}.content`) }
}

const spelling: TurnSpelling<TextBlockParam, string | ContentBlockParam[], Turn> = {
  family: 'Anthropic models',
  system: textBlocks,
  user: userContent,
  assistant: assistantContent,
  toolResult: (message, at) => [toolResult(message, at)],
  push,
}
