/**
 * A cached chat completion answered as a stream: per choice the role first, then reasoning,
 * content and refusal, then each tool call (id and name, then its arguments), then the finish
 * reason; the usage chunk (`choices: []`) only when the client asked; `data: [DONE]` last. Its
 * output reassembles (`providers/assemble.ts`) into the same content, tool calls and finish
 * reasons, for any completion (a seeded property). (The chunks are checked against OpenAI's
 * schema in `test/e2e/cache-schema.test.ts`: the validator reads the spec from disk, which
 * workerd cannot.)
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { assembleChatStream } from '../providers/assemble'
import { completionAsSse } from './replay'

type Json = Record<string, unknown>

/** The SSE text's events: each `data:` payload parsed, `[DONE]` as the string. */
const events = (text: string): unknown[] => {
  expect(text.endsWith('\n\n')).toBe(true)
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true)
      expect(block).not.toContain('\n')
      const data = block.slice('data: '.length)
      return data === '[DONE]' ? data : (JSON.parse(data) as unknown)
    })
}

/** The chunks before `[DONE]`, asserting it comes last and only once. */
const chunks = (text: string): Json[] => {
  const all = events(text)
  expect(all.at(-1)).toBe('[DONE]')
  const rest = all.slice(0, -1)
  expect(rest).not.toContain('[DONE]')
  return rest as Json[]
}

const deltas = (list: Json[]): unknown[] => list.map((chunk) => (chunk.choices as Json[])[0]?.delta)

const COMPLETION = {
  id: 'chatcmpl-9',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  system_fingerprint: 'fp_1',
  choices: [
    {
      index: 0,
      logprobs: null,
      finish_reason: 'stop',
      message: {
        role: 'assistant',
        content: 'Paris.',
        reasoning_content: 'The user asks for a capital.',
        refusal: null,
      },
    },
  ],
  usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
}

const TOOLS = {
  ...COMPLETION,
  choices: [
    {
      index: 0,
      logprobs: null,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          {
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      },
    },
  ],
}

describe('completionAsSse', () => {
  it('should send the role, the reasoning, the content, then the finish reason', () => {
    const list = chunks(completionAsSse(COMPLETION, false))
    expect(deltas(list)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { reasoning_content: 'The user asks for a capital.' },
      { content: 'Paris.' },
      {},
    ])
    expect(list.map((chunk) => (chunk.choices as Json[])[0]?.finish_reason)).toEqual([
      null,
      null,
      null,
      'stop',
    ])
  })

  it('should give every chunk the completion’s id, created, model and fingerprint', () => {
    for (const chunk of chunks(completionAsSse(COMPLETION, true))) {
      expect(chunk).toMatchObject({
        id: 'chatcmpl-9',
        object: 'chat.completion.chunk',
        created: 1_700_000_000,
        model: 'gpt-4o-mini',
        system_fingerprint: 'fp_1',
      })
    }
    const bare = chunks(completionAsSse({ ...COMPLETION, system_fingerprint: undefined }, false))
    for (const chunk of bare) expect(chunk).not.toHaveProperty('system_fingerprint')
  })

  it('should send each tool call’s id and name, then its arguments, per index', () => {
    const list = chunks(completionAsSse(TOOLS, false))
    expect(deltas(list)).toEqual([
      { role: 'assistant', content: '', refusal: null },
      {
        tool_calls: [
          {
            index: 0,
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] },
      {
        tool_calls: [
          {
            index: 1,
            id: 'call_b',
            type: 'function',
            function: { name: 'get_time', arguments: '' },
          },
        ],
      },
      {},
    ])
    expect((list.at(-1)?.choices as Json[])[0]?.finish_reason).toBe('tool_calls')
  })

  it('should send a refusal as its own delta', () => {
    const refused = {
      ...COMPLETION,
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' },
        },
      ],
    }
    expect(deltas(chunks(completionAsSse(refused, false)))).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { refusal: 'I cannot help with that.' },
      {},
    ])
  })

  it('should send each choice under its own index', () => {
    const two = {
      ...COMPLETION,
      choices: [
        { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'A' } },
        { index: 1, finish_reason: 'length', message: { role: 'assistant', content: 'B' } },
      ],
    }
    const list = chunks(completionAsSse(two, false))
    expect(
      list.map((chunk) => {
        const [only] = chunk.choices as Json[]
        return [only?.index, only?.delta, only?.finish_reason]
      }),
    ).toEqual([
      [0, { role: 'assistant', content: '', refusal: null }, null],
      [0, { content: 'A' }, null],
      [0, {}, 'stop'],
      [1, { role: 'assistant', content: '', refusal: null }, null],
      [1, { content: 'B' }, null],
      [1, {}, 'length'],
    ])
  })

  it('should end with the usage chunk, choices empty, only when asked', () => {
    const asked = chunks(completionAsSse(COMPLETION, true))
    expect(asked.at(-1)).toMatchObject({ choices: [], usage: COMPLETION.usage })
    // OpenAI's chunks before it carry `usage: null`.
    for (const chunk of asked.slice(0, -1)) expect(chunk.usage).toBeNull()

    const notAsked = chunks(completionAsSse(COMPLETION, false))
    for (const chunk of notAsked) {
      expect(chunk).not.toHaveProperty('usage')
      expect(chunk.choices).not.toEqual([])
    }
  })

  it('should send a null usage when asked and the completion has none', () => {
    const list = chunks(completionAsSse({ ...COMPLETION, usage: undefined }, true))
    expect(list.at(-1)).toMatchObject({ choices: [], usage: null })
  })

  it('should finish with stop when the stored choice names no reason', () => {
    const none = {
      ...COMPLETION,
      choices: [{ index: 0, message: { role: 'assistant', content: 'x' } }],
    }
    expect((chunks(completionAsSse(none, false)).at(-1)?.choices as Json[])[0]?.finish_reason).toBe(
      'stop',
    )
  })

  it('should keep a content with blank lines inside one event', () => {
    const text = 'line one\n\ndata: [DONE]\n\nline two'
    const multi = {
      ...COMPLETION,
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: text } }],
    }
    const sse = completionAsSse(multi, false)
    expect(deltas(chunks(sse))).toContainEqual({ content: text })
    expect(assembleChatStream(sse).choices).toMatchObject([{ message: { content: text } }])
  })
})

// -------------------------------------------------------------------------------------------
// Round trip: any completion, streamed and reassembled, says the same.
// -------------------------------------------------------------------------------------------

const text = fc.string({ unit: 'binary', maxLength: 40 })

const toolCall = fc.record({
  id: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }),
  type: fc.constant('function'),
  function: fc.record({
    name: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }),
    arguments: text,
  }),
})

const message = fc.record(
  {
    role: fc.constant('assistant'),
    content: fc.option(text, { nil: null }),
    reasoning_content: text,
    tool_calls: fc.array(toolCall, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: ['role', 'content'] },
)

const completion = fc
  .tuple(
    fc.array(
      fc.record({
        message,
        finish_reason: fc.constantFrom('stop', 'length', 'tool_calls', 'content_filter'),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    fc.option(
      fc.record({
        prompt_tokens: fc.nat(1000),
        completion_tokens: fc.nat(1000),
        total_tokens: fc.nat(2000),
      }),
      { nil: undefined },
    ),
  )
  .map(([choices, usage]) => ({
    id: 'chatcmpl-rt',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: choices.map((c, index) => ({ index, logprobs: null, ...c })),
    ...(usage === undefined ? {} : { usage }),
  }))

/** What a choice says, as assembled from a stream: empty fields mean nothing was said. */
const said = (choice: {
  index: number
  finish_reason: unknown
  message: { content?: unknown; reasoning_content?: unknown; tool_calls?: unknown }
}) => ({
  index: choice.index,
  finish_reason: choice.finish_reason,
  content: typeof choice.message.content === 'string' ? choice.message.content : '',
  reasoning:
    typeof choice.message.reasoning_content === 'string' ? choice.message.reasoning_content : '',
  tool_calls: Array.isArray(choice.message.tool_calls) ? choice.message.tool_calls : [],
})

describe('completionAsSse then assembleChatStream', () => {
  it('should give back the same content, reasoning, tool calls and finish reasons', () => {
    fc.assert(
      fc.property(completion, fc.boolean(), (original, includeUsage) => {
        const sse = completionAsSse(original, includeUsage)
        const again = assembleChatStream(sse)
        expect(again.error).toBeUndefined()
        expect(again.id).toBe(original.id)
        expect(again.model).toBe(original.model)
        expect(again.created).toBe(original.created)
        const choices = again.choices as Parameters<typeof said>[0][]
        expect(choices.map(said)).toEqual(original.choices.map(said))
        if (includeUsage) expect(again.usage).toEqual(original.usage)
        else expect(again.usage).toBeUndefined()
      }),
      { seed: 20_260_310, numRuns: 300 },
    )
  })
})
