/**
 * A Responses API request as the canonical chat completion (`responsesToChat`): every row of the
 * module's mapping table, the merging of consecutive function calls into one assistant message,
 * each refusal as a 400 `INVALID_REQUEST` naming its field, unknown fields kept, the
 * Responses-only fields not sent on, and what the answer echoes.
 */
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors'
import { responsesToChat } from './request'

const MODEL = 'openai/gpt-4o-mini'

/** The chat body for a request of `MODEL` with `fields`. */
const chatOf = (fields: Record<string, unknown>, prompted = false) =>
  responsesToChat({ model: MODEL, ...fields }, prompted).chat

/** The messages of the chat body for `input`. */
const messagesOf = (input: unknown) => chatOf({ input }).messages

/** The error `responsesToChat` throws; fails the test when it throws anything else or nothing. */
const refusal = (body: unknown, prompted = false): GatewayError => {
  let thrown: unknown
  try {
    responsesToChat(body, prompted)
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(GatewayError)
  if (!(thrown instanceof GatewayError)) throw new Error('responsesToChat did not refuse')
  expect(thrown.code).toBe('INVALID_REQUEST')
  expect(thrown.status).toBe(400)
  expect(thrown.type).toBe('invalid_request_error')
  return thrown
}

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: true,
}

describe('responsesToChat', () => {
  describe('the mapping table', () => {
    it('should make instructions a first system message', () => {
      expect(chatOf({ instructions: 'Be terse.', input: 'Hi' }).messages).toEqual([
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Hi' },
      ])
    })

    it('should put instructions before every input item, including system items', () => {
      const messages = chatOf({
        instructions: 'First.',
        input: [
          { role: 'system', content: 'Second.' },
          { role: 'user', content: 'Hi' },
        ],
      }).messages
      expect(messages).toEqual([
        { role: 'system', content: 'First.' },
        { role: 'system', content: 'Second.' },
        { role: 'user', content: 'Hi' },
      ])
    })

    it('should make a string input one user message', () => {
      expect(chatOf({ input: 'What is the capital of France?' })).toEqual({
        model: MODEL,
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
      })
    })

    it.each(['user', 'assistant', 'system', 'developer'])(
      'should keep a %s message item with string content',
      (role) => {
        expect(messagesOf([{ type: 'message', role, content: 'text' }])).toEqual([
          { role, content: 'text' },
        ])
      },
    )

    it('should take an item with a role and no type as a message (EasyInputMessage)', () => {
      expect(messagesOf([{ role: 'user', content: 'Hi' }])).toEqual([
        { role: 'user', content: 'Hi' },
      ])
    })

    it('should make input_text parts of a user message text parts', () => {
      expect(
        messagesOf([
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Hello' },
              { type: 'input_text', text: ' there' },
            ],
          },
        ]),
      ).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello' },
            { type: 'text', text: ' there' },
          ],
        },
      ])
    })

    it('should join the text parts of an assistant message (output_text and refusal)', () => {
      expect(
        messagesOf([
          {
            type: 'message',
            role: 'assistant',
            id: 'msg_1',
            status: 'completed',
            content: [
              { type: 'output_text', text: 'Paris', annotations: [] },
              { type: 'refusal', refusal: ' — no more.' },
            ],
          },
        ]),
      ).toEqual([{ role: 'assistant', content: 'Paris — no more.' }])
    })

    it.each(['system', 'developer'])('should join the input_text parts of a %s message', (role) => {
      expect(
        messagesOf([
          {
            role,
            content: [
              { type: 'input_text', text: 'Be ' },
              { type: 'input_text', text: 'terse.' },
            ],
          },
        ]),
      ).toEqual([{ role, content: 'Be terse.' }])
    })

    it('should make a refusal part without text an empty text', () => {
      expect(messagesOf([{ role: 'assistant', content: [{ type: 'refusal' }] }])).toEqual([
        { role: 'assistant', content: '' },
      ])
    })

    it('should make an input_image with a URL an image_url part, keeping its detail', () => {
      expect(
        messagesOf([
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is this?' },
              { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'low' },
            ],
          },
        ]),
      ).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
          ],
        },
      ])
    })

    it('should make an input_image with a data: URL an image_url part, without a detail', () => {
      const url =
        'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
      expect(
        messagesOf([{ role: 'user', content: [{ type: 'input_image', image_url: url }] }]),
      ).toEqual([{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }])
    })

    it('should keep the parts of a non-user message holding an image', () => {
      const url = 'https://example.com/cat.png'
      expect(
        messagesOf([
          {
            role: 'system',
            content: [
              { type: 'input_text', text: 'See ' },
              { type: 'input_image', image_url: url },
            ],
          },
        ]),
      ).toEqual([
        {
          role: 'system',
          content: [
            { type: 'text', text: 'See ' },
            { type: 'image_url', image_url: { url } },
          ],
        },
      ])
    })

    it('should merge consecutive function_call items into one assistant message', () => {
      const messages = messagesOf([
        { role: 'user', content: 'Weather in Paris and Oslo?' },
        {
          type: 'function_call',
          id: 'fc_1',
          call_id: 'call_a',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
          status: 'completed',
        },
        {
          type: 'function_call',
          call_id: 'call_b',
          name: 'get_weather',
          arguments: '{"city":"Oslo"}',
        },
        { type: 'function_call_output', call_id: 'call_a', output: '{"celsius":21}' },
        { type: 'function_call_output', call_id: 'call_b', output: '{"celsius":4}' },
      ])
      expect(messages).toEqual([
        { role: 'user', content: 'Weather in Paris and Oslo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_b',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '{"celsius":21}' },
        { role: 'tool', tool_call_id: 'call_b', content: '{"celsius":4}' },
      ])
    })

    it('should start a new assistant message for a function call after a tool output', () => {
      const messages = messagesOf([
        { type: 'function_call', call_id: 'call_a', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_a', output: 'one' },
        { type: 'function_call', call_id: 'call_b', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_b', output: 'two' },
      ])
      expect(messages).toEqual([
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: 'one' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_b', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_b', content: 'two' },
      ])
    })

    it('should start a new assistant message for a function call after a message item', () => {
      const messages = messagesOf([
        { type: 'function_call', call_id: 'call_a', name: 'f', arguments: '{}' },
        { role: 'user', content: 'and?' },
        { type: 'function_call', call_id: 'call_b', name: 'f', arguments: '{}' },
      ])
      expect(messages).toHaveLength(3)
      expect(messages).toMatchObject([
        { role: 'assistant', tool_calls: [{ id: 'call_a' }] },
        { role: 'user' },
        { role: 'assistant', tool_calls: [{ id: 'call_b' }] },
      ])
    })

    it('should write function_call arguments that are not a string as JSON', () => {
      expect(
        messagesOf([{ type: 'function_call', call_id: 'c', name: 'f', arguments: { a: 1 } }]),
      ).toEqual([
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
          ],
        },
      ])
    })

    it.each<[string, unknown, unknown]>([
      ['a string', 'sunny', 'sunny'],
      [
        'a list of text parts',
        [
          { type: 'input_text', text: 'sun' },
          { type: 'input_text', text: 'ny' },
        ],
        'sunny',
      ],
      ['an object', { celsius: 21 }, '{"celsius":21}'],
    ])('should make a function_call_output with %s a tool message', (_name, output, content) => {
      expect(messagesOf([{ type: 'function_call_output', call_id: 'call_1', output }])).toEqual([
        { role: 'tool', tool_call_id: 'call_1', content },
      ])
    })

    it('should drop reasoning items, without breaking a run of function calls', () => {
      const messages = messagesOf([
        { role: 'user', content: 'Hi' },
        {
          type: 'reasoning',
          id: 'rs_1',
          summary: [{ type: 'summary_text', text: 'thinking' }],
          encrypted_content: 'xyz',
        },
        { type: 'function_call', call_id: 'call_a', name: 'f', arguments: '{}' },
        { type: 'reasoning', id: 'rs_2', summary: [] },
        { type: 'function_call', call_id: 'call_b', name: 'f', arguments: '{}' },
      ])
      expect(messages).toEqual([
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } },
            { id: 'call_b', type: 'function', function: { name: 'f', arguments: '{}' } },
          ],
        },
      ])
    })

    it('should make flat function tools chat tools', () => {
      expect(
        chatOf({ input: 'Hi', tools: [weatherTool, { type: 'function', name: 'now' }] }).tools,
      ).toEqual([
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: weatherTool.parameters,
            strict: true,
          },
        },
        { type: 'function', function: { name: 'now' } },
      ])
    })

    it('should leave out an empty tools list and a null one', () => {
      expect(chatOf({ input: 'Hi', tools: [] })).not.toHaveProperty('tools')
      expect(chatOf({ input: 'Hi', tools: null })).not.toHaveProperty('tools')
    })

    it('should make a function tool_choice the chat form', () => {
      expect(
        chatOf({ input: 'Hi', tool_choice: { type: 'function', name: 'get_weather' } }).tool_choice,
      ).toEqual({
        type: 'function',
        function: { name: 'get_weather' },
      })
    })

    it.each(['auto', 'none', 'required'])('should keep tool_choice %s', (choice) => {
      expect(chatOf({ input: 'Hi', tool_choice: choice }).tool_choice).toBe(choice)
    })

    it('should make text.format json_object a response_format', () => {
      expect(
        chatOf({ input: 'Hi', text: { format: { type: 'json_object' } } }).response_format,
      ).toEqual({
        type: 'json_object',
      })
    })

    it('should make text.format json_schema a response_format with its name, schema, description and strict', () => {
      const schema = {
        type: 'object',
        properties: { name: { type: 'string' } },
        required: ['name'],
      }
      expect(
        chatOf({
          input: 'Hi',
          text: {
            format: {
              type: 'json_schema',
              name: 'city',
              description: 'A city',
              schema,
              strict: true,
            },
          },
        }).response_format,
      ).toEqual({
        type: 'json_schema',
        json_schema: { name: 'city', schema, description: 'A city', strict: true },
      })
    })

    it.each<[string, unknown]>([
      ['format text', { format: { type: 'text' } }],
      ['no format', {}],
      ['a null format', { format: null }],
      ['null text', null],
    ])('should send no response_format for %s', (_name, text) => {
      expect(chatOf({ input: 'Hi', text })).not.toHaveProperty('response_format')
    })

    it('should make max_output_tokens max_completion_tokens and reasoning.effort reasoning_effort', () => {
      const chat = chatOf({
        input: 'Hi',
        max_output_tokens: 64,
        reasoning: { effort: 'low', summary: 'auto' },
      })
      expect(chat).toEqual({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi' }],
        max_completion_tokens: 64,
        reasoning_effort: 'low',
      })
    })

    it.each(['low', 'medium', 'high'])('should make text.verbosity %s verbosity', (verbosity) => {
      const chat = chatOf({ input: 'Hi', text: { format: { type: 'text' }, verbosity } })
      expect(chat).toEqual({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi' }],
        verbosity,
      })
    })

    it.each<[string, unknown]>([
      ['no verbosity', { format: { type: 'text' } }],
      ['a null verbosity', { verbosity: null }],
    ])('should send no verbosity for %s', (_name, text) => {
      expect(chatOf({ input: 'Hi', text })).not.toHaveProperty('verbosity')
    })

    it('should send no reasoning_effort for reasoning without an effort', () => {
      expect(chatOf({ input: 'Hi', reasoning: { summary: 'auto' } })).not.toHaveProperty(
        'reasoning_effort',
      )
    })

    it('should keep temperature, top_p, parallel_tool_calls, user and stream as they are', () => {
      expect(
        chatOf({
          input: 'Hi',
          temperature: 0.2,
          top_p: 0.9,
          parallel_tool_calls: false,
          user: 'u_1',
          stream: false,
        }),
      ).toEqual({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi' }],
        temperature: 0.2,
        top_p: 0.9,
        parallel_tool_calls: false,
        user: 'u_1',
        stream: false,
      })
    })

    it('should ask for the usage chunk when streaming, in place of the client’s stream_options', () => {
      const chat = chatOf({
        input: 'Hi',
        stream: true,
        stream_options: { include_obfuscation: false },
      })
      expect(chat.stream).toBe(true)
      expect(chat.stream_options).toEqual({ include_usage: true })
    })

    it('should not send stream_options when not streaming', () => {
      expect(
        chatOf({ input: 'Hi', stream_options: { include_obfuscation: false } }),
      ).not.toHaveProperty('stream_options')
    })
  })

  describe('fields not sent on', () => {
    it('should keep unknown fields as sent', () => {
      const chat = chatOf({
        input: 'Hi',
        seed: 7,
        service_tier: 'flex',
        prompt_cache_key: 'k',
        x_vendor: { nested: [1, 2] },
      })
      expect(chat).toEqual({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi' }],
        seed: 7,
        service_tier: 'flex',
        prompt_cache_key: 'k',
        x_vendor: { nested: [1, 2] },
      })
    })

    it('should not send store, include, metadata, truncation, max_tool_calls, or a null previous_response_id, conversation or a false background', () => {
      const chat = chatOf({
        input: 'Hi',
        store: true,
        include: ['reasoning.encrypted_content'],
        metadata: { run: '1' },
        truncation: 'auto',
        max_tool_calls: 3,
        previous_response_id: null,
        conversation: null,
        background: false,
      })
      expect(chat).toEqual({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] })
    })
  })

  describe('refusals', () => {
    it.each<[string, unknown]>([
      ['null', null],
      ['an array', [{ model: MODEL, input: 'Hi' }]],
      ['a string', 'Hi'],
      ['a number', 1],
    ])('should refuse a body that is %s, naming body', (_name, body) => {
      expect(refusal(body).param).toBe('body')
    })

    it.each<[string, Record<string, unknown>, string]>([
      ['previous_response_id', { previous_response_id: 'resp_123' }, 'previous_response_id'],
      ['conversation (an id)', { conversation: 'conv_1' }, 'conversation'],
      ['conversation (an object)', { conversation: { id: 'conv_1' } }, 'conversation'],
      ['background', { background: true }, 'background'],
      [
        'an item_reference',
        {
          input: [
            { role: 'user', content: 'Hi' },
            { type: 'item_reference', id: 'msg_1' },
          ],
        },
        'input[1]',
      ],
      ['a hosted tool', { tools: [weatherTool, { type: 'web_search' }] }, 'tools[1].type'],
      [
        'a file_search tool',
        { tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] },
        'tools[0].type',
      ],
      ['a tool that is not an object', { tools: ['get_weather'] }, 'tools[0].type'],
      [
        'a function tool without a name',
        { tools: [{ type: 'function', parameters: {} }] },
        'tools[0].name',
      ],
      ['tools that are not a list', { tools: { type: 'function', name: 'f' } }, 'tools'],
      ['a hosted tool_choice', { tool_choice: { type: 'web_search_preview' } }, 'tool_choice'],
      [
        'an allowed_tools tool_choice',
        { tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [] } },
        'tool_choice',
      ],
      [
        'a function tool_choice without a name',
        { tool_choice: { type: 'function' } },
        'tool_choice',
      ],
      ['a number tool_choice', { tool_choice: 1 }, 'tool_choice'],
      ['text that is not an object', { text: 'json' }, 'text'],
      ['a text.format that is not an object', { text: { format: 'json_object' } }, 'text.format'],
      [
        'a json_schema format without a schema',
        { text: { format: { type: 'json_schema', name: 'x' } } },
        'text.format',
      ],
      [
        'a json_schema format without a name',
        { text: { format: { type: 'json_schema', schema: {} } } },
        'text.format',
      ],
      [
        'an unknown text.format type',
        { text: { format: { type: 'grammar' } } },
        'text.format.type',
      ],
      ['an unknown text.verbosity', { text: { verbosity: 'terse' } }, 'text.verbosity'],
      ['instructions that are not a string', { instructions: ['Be terse.'] }, 'instructions'],
      [
        'an input that is neither a string nor a list',
        { input: { role: 'user', content: 'Hi' } },
        'input',
      ],
      ['an item that is not an object', { input: ['Hi'] }, 'input[0]'],
      [
        'an unknown item type',
        { input: [{ type: 'computer_call_output', call_id: 'c' }] },
        'input[0].type',
      ],
      [
        'a message with an unknown role',
        { input: [{ type: 'message', role: 'tool', content: 'x' }] },
        'input[0].role',
      ],
      [
        'content that is neither a string nor a list',
        { input: [{ role: 'user', content: 5 }] },
        'input[0].content',
      ],
      [
        'a content part that is not an object',
        { input: [{ role: 'user', content: ['Hi'] }] },
        'input[0].content[0]',
      ],
      [
        'an input_text without text',
        { input: [{ role: 'user', content: [{ type: 'input_text' }] }] },
        'input[0].content[0].text',
      ],
      [
        'an input_file part',
        { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file_1' }] }] },
        'input[0].content[0].type',
      ],
      [
        'an input_image by file_id',
        { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] },
        'input[0].content[0].image_url',
      ],
      [
        'a function_call without call_id',
        { input: [{ type: 'function_call', name: 'f', arguments: '{}' }] },
        'input[0]',
      ],
      [
        'a function_call without name',
        { input: [{ type: 'function_call', call_id: 'c', arguments: '{}' }] },
        'input[0]',
      ],
      [
        'a function_call_output without call_id',
        { input: [{ type: 'function_call_output', output: 'x' }] },
        'input[0].call_id',
      ],
    ])('should refuse %s, naming %s', (_name, fields, param) => {
      const error = refusal({ model: MODEL, input: 'Hi', ...fields })
      expect(error.param).toBe(param)
      expect(error.message).toContain(param.split('[')[0])
    })

    it('should refuse a missing input, naming input', () => {
      expect(refusal({ model: MODEL }).param).toBe('input')
      expect(refusal({ model: MODEL, instructions: 'Be terse.' }).param).toBe('input')
    })

    it('should refuse stateful requests even when prompted', () => {
      expect(refusal({ previous_response_id: 'resp_1' }, true).param).toBe('previous_response_id')
    })
  })

  describe('a prompted request (floopy-prompt-id)', () => {
    it('should take a request without input and send no messages, so the template supplies them', () => {
      expect(responsesToChat({ model: MODEL }, true).chat).toEqual({ model: MODEL })
      expect(responsesToChat({}, true).chat).toEqual({})
    })

    it('should send instructions as the only message when there is no input', () => {
      expect(responsesToChat({ instructions: 'Be terse.' }, true).chat).toEqual({
        messages: [{ role: 'system', content: 'Be terse.' }],
      })
    })

    it('should translate an input as usual', () => {
      expect(responsesToChat({ input: 'Hi', inputs: { name: 'Ada' } }, true).chat).toEqual({
        messages: [{ role: 'user', content: 'Hi' }],
        inputs: { name: 'Ada' },
      })
    })
  })

  describe('the echo', () => {
    it('should hold the defaults for a minimal request', () => {
      expect(responsesToChat({ model: MODEL, input: 'Hi' }).echo).toEqual({
        model: MODEL,
        instructions: null,
        tools: [],
        toolChoice: 'auto',
        parallelToolCalls: true,
        text: { format: { type: 'text' } },
        temperature: null,
        topP: null,
        maxOutputTokens: null,
        reasoning: null,
        metadata: {},
        user: null,
        store: true,
      })
    })

    it('should repeat the request’s parameters as sent', () => {
      const text = { format: { type: 'json_object' }, verbosity: 'low' }
      const reasoning = { effort: 'high', summary: 'auto' }
      expect(
        responsesToChat({
          model: MODEL,
          input: 'Hi',
          instructions: 'Be terse.',
          tools: [weatherTool],
          tool_choice: { type: 'function', name: 'get_weather' },
          parallel_tool_calls: false,
          text,
          temperature: 0,
          top_p: 0.5,
          max_output_tokens: 100,
          reasoning,
          metadata: { run: 'r1', attempt: 2 },
          user: 'u_1',
        }).echo,
      ).toEqual({
        model: MODEL,
        instructions: 'Be terse.',
        tools: [weatherTool],
        toolChoice: { type: 'function', name: 'get_weather' },
        parallelToolCalls: false,
        text,
        temperature: 0,
        topP: 0.5,
        maxOutputTokens: 100,
        reasoning,
        metadata: { run: 'r1', attempt: '2' },
        user: 'u_1',
        store: true,
      })
    })

    it('should echo an empty model for a prompted request without one', () => {
      expect(responsesToChat({ input: 'Hi' }, true).echo.model).toBe('')
    })
  })
})
