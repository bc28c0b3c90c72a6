/**
 * @module A chat completion's answer as a Responses API answer, pure: the `response` object
 * (`chatToResponse`), and the Responses event stream from the chat completion stream
 * (`responsesStream`), with `sequence_number`s, in the documented order:
 *
 * `response.created` → `response.in_progress` → per output item `response.output_item.added`,
 * (a message) `response.content_part.added`, `response.output_text.delta`…,
 * `response.output_text.done`, `response.content_part.done` / (a function call)
 * `response.function_call_arguments.delta`…, `response.function_call_arguments.done` /
 * (reasoning) `response.reasoning_summary_part.added`, `response.reasoning_summary_text.delta`…,
 * `…text.done`, `…part.done` → `response.output_item.done` → `response.completed` (or
 * `response.incomplete` when cut by length or a filter). A chat stream that breaks (an in-stream
 * error event, or an end without a finish) ends with `response.failed`, never a clean-looking end.
 *
 * Output items: `reasoning` (when the provider returned reasoning text), the assistant `message`
 * with one `output_text` part (annotations `[]`), then one `function_call` per tool call with
 * `call_id` = the tool call's id.
 */
import type { ResponseEcho } from './request'

type Json = Record<string, unknown>

const randomId = (prefix: string): string =>
  `${prefix}_${crypto.randomUUID().replace(/-/g, '')}${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`

type Usage = {
  input_tokens: number
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number }
  output_tokens: number
  output_tokens_details: { reasoning_tokens: number }
  total_tokens: number
}

const num = (value: unknown): number => (typeof value === 'number' ? value : 0)

/** A chat completion's `usage` as the Responses API counts it. */
export const usageOf = (usage: unknown): Usage | null => {
  if (typeof usage !== 'object' || usage === null) return null
  const u = usage as Json
  const prompt = u.prompt_tokens_details as Json | undefined
  const completion = u.completion_tokens_details as Json | undefined
  const input = num(u.prompt_tokens)
  const output = num(u.completion_tokens)
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: num(prompt?.cached_tokens), cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: num(completion?.reasoning_tokens) },
    total_tokens: num(u.total_tokens) || input + output,
  }
}

/** The status a finish reason gives, and why a response is incomplete. */
const endOf = (finish: unknown): { status: 'completed' | 'incomplete'; incomplete: Json | null } =>
  finish === 'length'
    ? { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } }
    : finish === 'content_filter'
      ? { status: 'incomplete', incomplete: { reason: 'content_filter' } }
      : { status: 'completed', incomplete: null }

/** The `response` object around `output`. */
const responseObject = (
  id: string,
  createdAt: number,
  echo: ResponseEcho,
  model: string,
  state: {
    status: string
    output: Json[]
    usage: Usage | null
    incomplete: Json | null
    error?: Json | null
  },
): Json => ({
  id,
  object: 'response',
  created_at: createdAt,
  status: state.status,
  ...(state.status === 'completed' ? { completed_at: Math.floor(Date.now() / 1000) } : {}),
  background: false,
  error: state.error ?? null,
  incomplete_details: state.incomplete,
  instructions: echo.instructions,
  max_output_tokens: echo.maxOutputTokens,
  model,
  output: state.output,
  parallel_tool_calls: echo.parallelToolCalls,
  previous_response_id: null,
  reasoning: echo.reasoning ?? { effort: null, summary: null },
  store: echo.store,
  temperature: echo.temperature ?? 1,
  text: echo.text,
  tool_choice: echo.toolChoice,
  tools: echo.tools,
  top_p: echo.topP ?? 1,
  truncation: 'disabled',
  ...(state.usage === null ? {} : { usage: state.usage }),
  ...(echo.user === null ? {} : { user: echo.user }),
  metadata: echo.metadata,
})

const messageItem = (id: string, text: string, status: string): Json => ({
  id,
  type: 'message',
  status,
  role: 'assistant',
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
})

const reasoningItem = (id: string, text: string): Json => ({
  id,
  type: 'reasoning',
  summary: [{ type: 'summary_text', text }],
})

const callItem = (
  id: string,
  callId: string,
  name: string,
  args: string,
  status: string,
): Json => ({
  id,
  type: 'function_call',
  status,
  call_id: callId,
  name,
  arguments: args,
})

/** A chat completion (`chat.completion`) as a `response` object. */
export const chatToResponse = (completion: Json, echo: ResponseEcho): Json => {
  const choice = (Array.isArray(completion.choices) ? completion.choices[0] : undefined) as
    Json | undefined
  const message = (choice?.message ?? {}) as Json
  const output: Json[] = []
  const reasoning = message.reasoning_content ?? message.reasoning
  if (typeof reasoning === 'string' && reasoning !== '') {
    output.push(reasoningItem(randomId('rs'), reasoning))
  }
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as Json[]) : []
  const text =
    typeof message.content === 'string'
      ? message.content
      : typeof message.refusal === 'string'
        ? message.refusal
        : ''
  if (text !== '' || calls.length === 0)
    output.push(messageItem(randomId('msg'), text, 'completed'))
  for (const call of calls) {
    const fn = (call.function ?? {}) as Json
    output.push(
      callItem(
        randomId('fc'),
        typeof call.id === 'string' ? call.id : randomId('call'),
        typeof fn.name === 'string' ? fn.name : '',
        typeof fn.arguments === 'string' ? fn.arguments : '',
        'completed',
      ),
    )
  }
  const end = endOf(choice?.finish_reason)
  return responseObject(
    randomId('resp'),
    num(completion.created) || Math.floor(Date.now() / 1000),
    echo,
    typeof completion.model === 'string' ? completion.model : echo.model,
    { status: end.status, output, usage: usageOf(completion.usage), incomplete: end.incomplete },
  )
}

/**
 * A provider's or the gateway's error code as the Responses API names a failure (the spec's
 * `ResponseError.code` is a closed list): throttling is `rate_limit_exceeded`, anything else
 * `server_error`.
 */
const failureCode = (code: unknown): string =>
  typeof code === 'string' && /rate_limit|RATE_LIMITED|throttl|overloaded/i.test(code)
    ? 'rate_limit_exceeded'
    : 'server_error'

/** One Responses stream event on the wire. */
const frame = (event: Json): string =>
  `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`

type OpenItem =
  | { kind: 'reasoning'; index: number; id: string; text: string }
  | { kind: 'message'; index: number; id: string; text: string }
  | { kind: 'call'; index: number; id: string; callId: string; name: string; args: string }

/**
 * The Responses event stream for a chat completion stream (OpenAI SSE, `data: {…}` chunks then
 * `data: [DONE]`), as a `TransformStream` of bytes.
 */
export const responsesStream = (
  echo: ResponseEcho,
  /** Told the final response once it completed (or ended incomplete), not when it failed. */
  onDone?: (response: Json) => void,
): TransformStream<Uint8Array, Uint8Array> => {
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  const id = randomId('resp')
  const createdAt = Math.floor(Date.now() / 1000)
  let model = echo.model
  let sequence = 0
  let buffered = ''
  let started = false
  let ended = false
  let finish: unknown = undefined
  let usage: Usage | null = null
  const output: Json[] = []
  /** Items still open, in output order; tool calls by their chat index. */
  let reasoning: OpenItem | undefined
  let message: OpenItem | undefined
  const calls = new Map<number, OpenItem & { kind: 'call' }>()

  const emit = (controller: TransformStreamDefaultController<Uint8Array>, event: Json): void => {
    controller.enqueue(encoder.encode(frame({ ...event, sequence_number: sequence++ })))
  }
  const snapshot = (
    status: string,
    extra: { incomplete?: Json | null; error?: Json | null } = {},
  ) =>
    responseObject(id, createdAt, echo, model, {
      status,
      output,
      usage,
      incomplete: extra.incomplete ?? null,
      error: extra.error ?? null,
    })

  const start = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (started) return
    started = true
    emit(controller, { type: 'response.created', response: snapshot('in_progress') })
    emit(controller, { type: 'response.in_progress', response: snapshot('in_progress') })
  }

  const closeReasoning = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (reasoning?.kind !== 'reasoning') return
    const item = reasoning
    reasoning = undefined
    const part = { type: 'summary_text', text: item.text }
    const common = { item_id: item.id, output_index: item.index, summary_index: 0 }
    emit(controller, { type: 'response.reasoning_summary_text.done', ...common, text: item.text })
    emit(controller, { type: 'response.reasoning_summary_part.done', ...common, part })
    const done = reasoningItem(item.id, item.text)
    output[item.index] = done
    emit(controller, { type: 'response.output_item.done', output_index: item.index, item: done })
  }

  const reason = (controller: TransformStreamDefaultController<Uint8Array>, delta: string) => {
    if (reasoning === undefined) {
      reasoning = { kind: 'reasoning', index: output.length, id: randomId('rs'), text: '' }
      const added = { id: reasoning.id, type: 'reasoning', summary: [] }
      output.push(added)
      emit(controller, {
        type: 'response.output_item.added',
        output_index: reasoning.index,
        item: added,
      })
      emit(controller, {
        type: 'response.reasoning_summary_part.added',
        item_id: reasoning.id,
        output_index: reasoning.index,
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
      })
    }
    if (reasoning.kind !== 'reasoning') return
    reasoning.text += delta
    emit(controller, {
      type: 'response.reasoning_summary_text.delta',
      item_id: reasoning.id,
      output_index: reasoning.index,
      summary_index: 0,
      delta,
    })
  }

  const say = (controller: TransformStreamDefaultController<Uint8Array>, delta: string) => {
    closeReasoning(controller)
    if (message === undefined) {
      message = { kind: 'message', index: output.length, id: randomId('msg'), text: '' }
      const added = {
        id: message.id,
        type: 'message',
        status: 'in_progress',
        role: 'assistant',
        content: [],
      }
      output.push(added)
      emit(controller, {
        type: 'response.output_item.added',
        output_index: message.index,
        item: added,
      })
      emit(controller, {
        type: 'response.content_part.added',
        item_id: message.id,
        output_index: message.index,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      })
    }
    if (message.kind !== 'message') return
    message.text += delta
    emit(controller, {
      type: 'response.output_text.delta',
      item_id: message.id,
      output_index: message.index,
      content_index: 0,
      delta,
      logprobs: [],
    })
  }

  const closeMessage = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (message?.kind !== 'message') return
    const item = message
    message = undefined
    const common = { item_id: item.id, output_index: item.index, content_index: 0 }
    emit(controller, {
      type: 'response.output_text.done',
      ...common,
      text: item.text,
      logprobs: [],
    })
    emit(controller, {
      type: 'response.content_part.done',
      ...common,
      part: { type: 'output_text', text: item.text, annotations: [], logprobs: [] },
    })
    const done = messageItem(item.id, item.text, 'completed')
    output[item.index] = done
    emit(controller, { type: 'response.output_item.done', output_index: item.index, item: done })
  }

  const call = (controller: TransformStreamDefaultController<Uint8Array>, tool: Json): void => {
    closeReasoning(controller)
    const index = typeof tool.index === 'number' ? tool.index : 0
    const fn = (tool.function ?? {}) as Json
    let open = calls.get(index)
    if (open === undefined) {
      closeMessage(controller)
      open = {
        kind: 'call',
        index: output.length,
        id: randomId('fc'),
        callId: typeof tool.id === 'string' ? tool.id : randomId('call'),
        name: typeof fn.name === 'string' ? fn.name : '',
        args: '',
      }
      calls.set(index, open)
      const added = callItem(open.id, open.callId, open.name, '', 'in_progress')
      output.push(added)
      emit(controller, {
        type: 'response.output_item.added',
        output_index: open.index,
        item: added,
      })
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      open.args += fn.arguments
      emit(controller, {
        type: 'response.function_call_arguments.delta',
        item_id: open.id,
        output_index: open.index,
        delta: fn.arguments,
      })
    }
  }

  const closeCalls = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    for (const open of calls.values()) {
      emit(controller, {
        type: 'response.function_call_arguments.done',
        item_id: open.id,
        name: open.name,
        output_index: open.index,
        arguments: open.args,
      })
      const done = callItem(open.id, open.callId, open.name, open.args, 'completed')
      output[open.index] = done
      emit(controller, { type: 'response.output_item.done', output_index: open.index, item: done })
    }
    calls.clear()
  }

  const fail = (
    controller: TransformStreamDefaultController<Uint8Array>,
    code: string,
    messageText: string,
  ): void => {
    if (ended) return
    ended = true
    start(controller)
    // What came before the break stays in the output, marked incomplete.
    if (message?.kind === 'message') {
      output[message.index] = messageItem(message.id, message.text, 'incomplete')
    }
    for (const open of calls.values()) {
      output[open.index] = callItem(open.id, open.callId, open.name, open.args, 'incomplete')
    }
    emit(controller, {
      type: 'response.failed',
      response: snapshot('failed', { error: { code, message: messageText } }),
    })
  }

  const chunk = (controller: TransformStreamDefaultController<Uint8Array>, data: Json): void => {
    if (data.error !== undefined) {
      const error = (data.error ?? {}) as Json
      fail(
        controller,
        failureCode(error.code),
        typeof error.message === 'string' ? error.message : 'The provider’s stream broke off.',
      )
      return
    }
    start(controller)
    if (typeof data.model === 'string') model = data.model
    if (data.usage !== undefined && data.usage !== null) usage = usageOf(data.usage)
    const choice = (Array.isArray(data.choices) ? data.choices[0] : undefined) as Json | undefined
    if (choice === undefined) return
    const delta = (choice.delta ?? {}) as Json
    const thought = delta.reasoning_content ?? delta.reasoning
    if (typeof thought === 'string' && thought !== '') reason(controller, thought)
    if (typeof delta.content === 'string' && delta.content !== '') say(controller, delta.content)
    if (typeof delta.refusal === 'string' && delta.refusal !== '') say(controller, delta.refusal)
    if (Array.isArray(delta.tool_calls)) {
      for (const tool of delta.tool_calls as Json[]) call(controller, tool)
    }
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      finish = choice.finish_reason
    }
  }

  const complete = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (ended) return
    ended = true
    start(controller)
    closeReasoning(controller)
    if (message === undefined && calls.size === 0 && !output.some((o) => o.type === 'message')) {
      say(controller, '')
    }
    closeMessage(controller)
    closeCalls(controller)
    const end = endOf(finish)
    const final = snapshot(end.status, { incomplete: end.incomplete })
    emit(controller, {
      type: end.status === 'completed' ? 'response.completed' : 'response.incomplete',
      response: final,
    })
    onDone?.(final)
  }

  const line = (controller: TransformStreamDefaultController<Uint8Array>, text: string): void => {
    // Nothing is said after the response completed or failed, whatever the read still holds.
    if (ended || !text.startsWith('data:')) return
    const payload = text.slice(5).trim()
    if (payload === '[DONE]') {
      if (finish === undefined)
        fail(controller, 'server_error', 'The answer ended without a finish.')
      else complete(controller)
      return
    }
    let data: unknown
    try {
      data = JSON.parse(payload)
    } catch {
      return
    }
    if (typeof data === 'object' && data !== null) chunk(controller, data as Json)
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(bytes, controller) {
      if (ended) return
      buffered += decoder.decode(bytes, { stream: true })
      let cut = buffered.indexOf('\n')
      while (cut >= 0) {
        line(controller, buffered.slice(0, cut).replace(/\r$/, ''))
        buffered = buffered.slice(cut + 1)
        cut = buffered.indexOf('\n')
      }
    },
    flush(controller) {
      if (buffered !== '') line(controller, buffered)
      // A stream that ends without [DONE] broke off: say so.
      if (!ended) fail(controller, 'server_error', 'The provider’s stream ended early.')
    },
  })
}
