/**
 * @module Builds Converse's `system` and alternating `messages` from OpenAI chat messages (part of
 * the request translation, `request.ts`). Pure; a message Converse cannot take is a 400 naming it
 * (`messages.<i>…` in `param`).
 *
 * | OpenAI message or part                 | Converse                                            |
 * | -------------------------------------- | --------------------------------------------------- |
 * | `system`, `developer` (anywhere)       | `system` text blocks, in order                      |
 * | `user` text                            | `{text}`                                            |
 * | `image_url` with a `data:` URL         | `{image: {format, source: {bytes}}}` (png, jpeg,    |
 * |                                        | gif, webp; the base64 as it came)                   |
 * | `image_url` with an `s3://` URL        | `{image: {format, source: {s3Location: {uri}}}}`,   |
 * |                                        | the format from the extension                       |
 * | `image_url` with an http(s) URL        | 400: Converse takes the image's bytes, and the      |
 * |                                        | gateway does not fetch client URLs (a fetch would   |
 * |                                        | make it a proxy to anywhere); send a `data:` URL    |
 * | `file` with `file_data` as a data URL  | `{document: {format, name, source: {bytes}}}` for   |
 * |                                        | pdf, csv, doc(x), xls(x), html, txt, md; the name   |
 * |                                        | is the `filename` reduced to what Converse allows   |
 * | `input_audio`, `file_id`, other files  | 400                                                 |
 * | a part's `cache_control`               | a `{cachePoint}` block after it                     |
 * | `assistant` text / `refusal`           | `{text}` (empty text left out: Converse rejects it) |
 * | `assistant` `tool_calls`               | `{toolUse: {toolUseId, name, input}}`, `input` the  |
 * |                                        | parsed `arguments` (not a JSON object: 400)         |
 * | `tool`                                 | `{toolResult: {toolUseId, content: [{text}]}}` in a |
 * |                                        | user turn                                           |
 * | the `function` role                    | 400 (send `tool` messages)                          |
 *
 * Consecutive turns of one role are merged into one message (Converse requires alternation), so
 * parallel tool results form one user turn. `name` on messages has no Converse equivalent. The walk
 * over the roles is shared with Anthropic (`../turns.ts`); this module spells the parts.
 */
import { invalid, isRecord, stringAt, unsupported, type Json } from '../fields'
import { assistantTexts, toolCallOf } from '../anthropic/claude'
import { walkTurns, type TurnSpelling } from '../turns'
import type { ContentBlock, DocumentFormat, ImageFormat, Message, Role, SystemBlock } from './types'

const CACHE_POINT: ContentBlock & SystemBlock = { cachePoint: { type: 'default' } }

export type Translated = { system: SystemBlock[]; messages: Message[] }

export const translateMessages = (raw: unknown): Translated => {
  const { system, turns } = walkTurns(raw, spelling)
  return { system, messages: turns }
}

/** Whether the conversation holds tool calls or results (Converse then needs `toolConfig`). */
export const hasToolBlocks = (messages: readonly Message[]): boolean =>
  messages.some((m) => m.content.some((block) => 'toolUse' in block || 'toolResult' in block))

/** The last assistant turn called tools: the request continues a tool loop. */
export const inToolLoop = (messages: readonly Message[]): boolean => {
  const last = messages.findLast((m) => m.role === 'assistant')
  return last?.content.some((block) => 'toolUse' in block) ?? false
}

/** Appends a turn, merging it into the previous one when the role repeats. */
const push = (messages: Message[], role: Role, content: ContentBlock[]): void => {
  const last = messages.at(-1)
  if (last?.role === role) last.content.push(...content)
  else messages.push({ role, content })
}

/** A `{cachePoint}` after a part that carries `cache_control` (Anthropic's prompt caching). */
const cachePointAfter = (part: Json): ContentBlock[] =>
  isRecord(part.cache_control) ? [CACHE_POINT] : []

/** Text-only content (system, developer, tool): a string or text parts. */
const textBlocks = (content: unknown, at: string): SystemBlock[] => {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }]
  if (!Array.isArray(content)) throw invalid(`'${at}' must be a string or an array of parts.`, at)
  return content.flatMap((part: unknown, j): SystemBlock[] => {
    const where = `${at}.${j}`
    if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw invalid(`'${where}' must be a text part.`, where)
    }
    return [{ text: part.text }, ...(isRecord(part.cache_control) ? [CACHE_POINT] : [])]
  })
}

const userContent = (content: unknown, at: string): ContentBlock[] => {
  if (typeof content === 'string') return [{ text: content }]
  if (!Array.isArray(content)) throw invalid(`'${at}' must be a string or an array of parts.`, at)
  return content.flatMap((part: unknown, j): ContentBlock[] => {
    const where = `${at}.${j}`
    if (!isRecord(part)) throw invalid(`'${where}' must be an object.`, where)
    switch (part.type) {
      case 'text':
        return [{ text: stringAt(part.text, `${where}.text`) }, ...cachePointAfter(part)]
      case 'image_url':
        return [imageBlock(part.image_url, `${where}.image_url`), ...cachePointAfter(part)]
      case 'file':
        return [documentBlock(part.file, `${where}.file`, where), ...cachePointAfter(part)]
      case 'input_audio':
        throw unsupported(`'${where}': Bedrock's Converse API does not take audio input.`, where)
      default:
        throw invalid(`'${where}.type' must be text, image_url or file.`, `${where}.type`)
    }
  })
}

const IMAGE_FORMATS: Readonly<Record<string, ImageFormat>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
}

const IMAGE_EXTENSIONS: Readonly<Record<string, ImageFormat>> = {
  png: 'png',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  gif: 'gif',
  webp: 'webp',
}

/** `data:<media type>[;params];base64,<data>` (RFC 2397). */
const DATA_URL = /^data:([^;,]+)(?:;[^;,]*)*;base64,([A-Za-z0-9+/]*={0,2})$/s

const imageBlock = (image: unknown, at: string): ContentBlock => {
  const param = `${at}.url`
  const url = isRecord(image) ? image.url : undefined
  if (typeof url !== 'string') throw invalid(`'${param}' must be a string.`, param)
  if (url.startsWith('data:')) {
    const match = DATA_URL.exec(url)
    const format = match?.[1] === undefined ? undefined : IMAGE_FORMATS[match[1].toLowerCase()]
    if (match === null || format === undefined) {
      throw unsupported(
        `'${param}': Bedrock takes base64 data URLs of PNG, JPEG, GIF or WebP images.`,
        param,
      )
    }
    return { image: { format, source: { bytes: match[2] ?? '' } } }
  }
  if (url.startsWith('s3://')) {
    const extension = /\.([A-Za-z0-9]+)$/.exec(url)?.[1]?.toLowerCase()
    const format = extension === undefined ? undefined : IMAGE_EXTENSIONS[extension]
    if (format === undefined) {
      throw unsupported(
        `'${param}': an s3:// image must end in .png, .jpg, .jpeg, .gif or .webp.`,
        param,
      )
    }
    return { image: { format, source: { s3Location: { uri: url } } } }
  }
  throw unsupported(
    `'${param}': Bedrock's Converse API takes the image itself and the gateway does not fetch ` +
      "image URLs: send the image as a 'data:image/…;base64,…' URL (or an s3:// URL).",
    param,
  )
}

const DOCUMENT_FORMATS: Readonly<Record<string, DocumentFormat>> = {
  'application/pdf': 'pdf',
  'text/csv': 'csv',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'text/html': 'html',
  'text/plain': 'txt',
  'text/markdown': 'md',
}

/**
 * A document name as Converse allows it: letters, digits, single spaces, hyphens, parentheses
 * and square brackets (the extension goes, since `.` is not allowed).
 */
export const documentName = (filename: unknown, fallback: string): string => {
  const stem = typeof filename === 'string' ? filename.replace(/\.[^.]*$/, '') : ''
  const name = stem
    .replace(/[^A-Za-z0-9\s()[\]-]+/g, '-')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200)
  return name === '' ? fallback : name
}

const documentBlock = (file: unknown, at: string, where: string): ContentBlock => {
  const data = isRecord(file) ? file.file_data : undefined
  const match = typeof data === 'string' ? DATA_URL.exec(data) : null
  const format = match?.[1] === undefined ? undefined : DOCUMENT_FORMATS[match[1].toLowerCase()]
  if (match === null || format === undefined) {
    throw unsupported(
      `'${at}': Bedrock takes files as base64 data URLs in 'file_data' (PDF, CSV, DOC, DOCX, ` +
        'XLS, XLSX, HTML, TXT or MD), not file ids.',
      at,
    )
  }
  // Converse names must be unique within a request: fall back on the part's position.
  const position = where.match(/\d+/g)?.join('-') ?? ''
  const name = documentName(isRecord(file) ? file.filename : undefined, `document ${position}`)
  return { document: { format, name, source: { bytes: match[2] ?? '' } } }
}

const assistantContent = (message: Json, at: string): ContentBlock[] => {
  const blocks: ContentBlock[] = []
  for (const { text, part } of assistantTexts(message, at)) {
    blocks.push({ text }, ...(part === undefined ? [] : cachePointAfter(part)))
  }
  const calls = message.tool_calls
  if (Array.isArray(calls)) {
    calls.forEach((call: unknown, j) => {
      const { id, name, input } = toolCallOf(call, at, j, 'Bedrock')
      blocks.push({ toolUse: { toolUseId: id, name, input } })
    })
  }
  return blocks
}

const toolResult = (message: Json, at: string): ContentBlock => {
  const toolUseId = stringAt(message.tool_call_id, `${at}.tool_call_id`)
  const content = message.content
  const texts =
    typeof content === 'string'
      ? [{ text: content }]
      : textBlocks(content, `${at}.content`).flatMap((block) => ('text' in block ? [block] : []))
  return { toolResult: { toolUseId, content: texts } }
}

const spelling: TurnSpelling<SystemBlock, ContentBlock[], Message> = {
  family: 'Bedrock',
  system: textBlocks,
  user: userContent,
  assistant: assistantContent,
  toolResult: (message, at) => [toolResult(message, at)],
  push,
}
