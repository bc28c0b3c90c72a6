/**
 * @module Turns a streamed answer, as the gateway sent it (OpenAI's `chat.completion.chunk`
 * events, whatever the provider), into the one `chat.completion` object a non-streamed request
 * would have got — what the log stores, so a streamed and a non-streamed answer read alike.
 * Content and tool-call arguments are concatenated per choice and per tool call; an error event
 * is kept as `error`. Pure; tolerant of a cut or truncated capture (it keeps what it has). The
 * request log stores it; the response cache stores it too, so a stream can answer later requests.
 */
import { isRecord, parseJson, type Json } from './fields'

type ToolCall = { id?: unknown; type?: unknown; function: { name: string; arguments: string } }

type Choice = {
  index: number
  message: { role: string; content: string; reasoning_content?: string; tool_calls?: ToolCall[] }
  finish_reason: unknown
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '')

/** The `data:` payloads of an SSE text (events split on blank lines, `[DONE]` skipped). */
const dataPayloads = function* (sse: string): Generator<{ event: string; data: string }> {
  for (const block of sse.split(/\r?\n\r?\n/)) {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
    if (data.length > 0 && data.join('\n') !== '[DONE]') yield { event, data: data.join('\n') }
  }
}

const mergeToolCalls = (target: Choice, deltas: unknown): void => {
  if (!Array.isArray(deltas)) return
  const calls = (target.message.tool_calls ??= [])
  for (const delta of deltas) {
    if (!isRecord(delta)) continue
    const index = typeof delta.index === 'number' ? delta.index : calls.length
    const call = (calls[index] ??= { function: { name: '', arguments: '' } })
    if (delta.id !== undefined) call.id = delta.id
    if (delta.type !== undefined) call.type = delta.type
    const fn = isRecord(delta.function) ? delta.function : {}
    call.function.name += str(fn.name)
    call.function.arguments += str(fn.arguments)
  }
}

export const assembleChatStream = (sse: string): Json => {
  const out: Json = { object: 'chat.completion' }
  const choices = new Map<number, Choice>()
  for (const { event, data } of dataPayloads(sse)) {
    const chunk = parseJson(data) // undefined for a truncated last event
    if (!isRecord(chunk)) continue
    if (event === 'error' || isRecord(chunk.error)) {
      out.error = chunk.error ?? chunk
      continue
    }
    for (const key of ['id', 'created', 'model', 'system_fingerprint'] as const) {
      if (chunk[key] !== undefined) out[key] = chunk[key]
    }
    if (chunk.usage !== undefined && chunk.usage !== null) out.usage = chunk.usage
    if (!Array.isArray(chunk.choices)) continue
    for (const raw of chunk.choices) {
      if (!isRecord(raw)) continue
      const index = typeof raw.index === 'number' ? raw.index : 0
      let choice = choices.get(index)
      if (choice === undefined) {
        choice = { index, message: { role: 'assistant', content: '' }, finish_reason: null }
        choices.set(index, choice)
      }
      const delta = isRecord(raw.delta) ? raw.delta : {}
      if (typeof delta.role === 'string') choice.message.role = delta.role
      choice.message.content += str(delta.content)
      if (typeof delta.reasoning_content === 'string') {
        choice.message.reasoning_content =
          (choice.message.reasoning_content ?? '') + delta.reasoning_content
      }
      mergeToolCalls(choice, delta.tool_calls)
      if (raw.finish_reason !== undefined && raw.finish_reason !== null) {
        choice.finish_reason = raw.finish_reason
      }
    }
  }
  out.choices = [...choices.values()].sort((a, b) => a.index - b.index)
  return out
}
