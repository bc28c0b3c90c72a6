/**
 * @module A cached chat completion answered as a stream: OpenAI's `chat.completion.chunk` events
 * (OpenAI API reference, "The chat completion chunk object"; `specs/openai/STREAMING.md`) — per
 * choice, the role, then the content (and reasoning), then each tool call (id, name, then its
 * arguments), then the finish reason; the usage chunk (`choices: []`) when the client asked with
 * `stream_options.include_usage`; then `data: [DONE]`. Whichever way the entry was stored,
 * streamed and non-streamed requests share it. Pure.
 */
import { isRecord, type Json } from '../providers/fields'

const event = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`

/** The SSE text of `completion` (a `chat.completion` object) as a stream. */
export const completionAsSse = (completion: Json, includeUsage: boolean): string => {
  const head = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
    ...(completion.system_fingerprint === undefined
      ? {}
      : { system_fingerprint: completion.system_fingerprint }),
  }
  const usageField = includeUsage ? { usage: null } : {}
  const chunk = (index: number, delta: Json, finish: unknown = null): string =>
    event({
      ...head,
      choices: [{ index, delta, logprobs: null, finish_reason: finish }],
      ...usageField,
    })
  let out = ''
  const choices = Array.isArray(completion.choices) ? completion.choices : []
  choices.forEach((raw, position) => {
    if (!isRecord(raw)) return
    const index = typeof raw.index === 'number' ? raw.index : position
    const message = isRecord(raw.message) ? raw.message : {}
    out += chunk(index, { role: 'assistant', content: '', refusal: null })
    if (typeof message.reasoning_content === 'string' && message.reasoning_content !== '') {
      out += chunk(index, { reasoning_content: message.reasoning_content })
    }
    if (typeof message.content === 'string' && message.content !== '') {
      out += chunk(index, { content: message.content })
    }
    if (typeof message.refusal === 'string' && message.refusal !== '') {
      out += chunk(index, { refusal: message.refusal })
    }
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : []
    calls.forEach((call, i) => {
      if (!isRecord(call) || !isRecord(call.function)) return
      const args = typeof call.function.arguments === 'string' ? call.function.arguments : ''
      out += chunk(index, {
        tool_calls: [
          {
            index: i,
            id: call.id,
            type: 'function',
            function: { name: call.function.name, arguments: '' },
          },
        ],
      })
      if (args !== '')
        out += chunk(index, { tool_calls: [{ index: i, function: { arguments: args } }] })
    })
    out += chunk(index, {}, raw.finish_reason ?? 'stop')
  })
  if (includeUsage) {
    out += event({ ...head, choices: [], usage: completion.usage ?? null })
  }
  return `${out}data: [DONE]\n\n`
}
