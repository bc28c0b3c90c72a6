import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { toGenerateContentRequest, wantsReasoning } from './request'
import { exchange, recordings } from './test-fixtures'
import { FOREIGN_SIGNATURE } from './tool-call-id'

type Body = Record<string, unknown>

const user = (content: unknown): Body => ({ role: 'user', content })
const chat = (fields: Body, messages: unknown[] = [user('hi')]): Body => ({
  model: 'gemini/gemini-2.5-flash',
  messages,
  ...fields,
})

const translate = (body: Body, model = 'gemini-2.5-flash') => toGenerateContentRequest(body, model)
const requestOf = (body: Body, model?: string) => translate(body, model).request

/** The error a translation throws (fails the test when it throws none or something else). */
const refusal = (body: Body, model?: string): GatewayError => {
  try {
    translate(body, model)
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('the translation did not throw')
}

const assistantCall = (id: string, name = 'get_weather', args = '{"city":"Paris"}'): Body => ({
  role: 'assistant',
  content: null,
  tool_calls: [{ id, type: 'function', function: { name, arguments: args } }],
})

describe('toGenerateContentRequest', () => {
  describe('against the js-genai recordings', () => {
    it('should build the recorded request for a system instruction', () => {
      const recorded = exchange(recordings.unarySystem)
      const body = chat({}, [{ role: 'system', content: 'I say high you say low' }, user('high')])
      expect(requestOf(body)).toEqual(recorded.request)
    })

    it('should build both recorded requests of a function-calling round trip', () => {
      const tools = [
        {
          type: 'function',
          function: {
            name: 'customDivide',
            description: 'Custom divide function',
            parameters: {
              type: 'object',
              properties: { denominator: { type: 'number' }, numerator: { type: 'number' } },
            },
          },
        },
      ]
      const question = user('Divide 10 by 2 using the customDivide function')
      const first = chat({ tools, tool_choice: 'auto' }, [question])
      expect(requestOf(first, 'gemini-2.0-flash')).toEqual(
        exchange(recordings.unaryFunctionCalling, 0).request,
      )

      const second = chat({ tools, tool_choice: 'auto' }, [
        question,
        assistantCall('call_abc', 'customDivide', '{"denominator":2,"numerator":10}'),
        { role: 'tool', tool_call_id: 'call_abc', content: '{"output":42}' },
      ])
      expect(requestOf(second, 'gemini-2.0-flash')).toEqual(
        exchange(recordings.unaryFunctionCalling, 1).request,
      )
    })
  })

  describe('messages', () => {
    it('should gather system and developer messages into systemInstruction', () => {
      const request = requestOf(
        chat({}, [
          { role: 'system', content: 'Be brief.' },
          user('hi'),
          { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        ]),
      )
      expect(request.systemInstruction).toEqual({
        parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }],
        role: 'user',
      })
      expect(request.contents).toEqual([{ parts: [{ text: 'hi' }], role: 'user' }])
    })

    it('should map assistant to model and merge consecutive turns of one role', () => {
      const request = requestOf(
        chat({}, [
          user('a'),
          user('b'),
          { role: 'assistant', content: 'c' },
          { role: 'assistant', content: [{ type: 'text', text: 'd' }] },
          user('e'),
        ]),
      )
      expect(request.contents).toEqual([
        { parts: [{ text: 'a' }, { text: 'b' }], role: 'user' },
        { parts: [{ text: 'c' }, { text: 'd' }], role: 'model' },
        { parts: [{ text: 'e' }], role: 'user' },
      ])
    })

    it('should skip an assistant message with neither content nor tool calls', () => {
      const request = requestOf(
        chat({}, [user('a'), { role: 'assistant', content: '' }, user('b')]),
      )
      expect(request.contents).toEqual([{ parts: [{ text: 'a' }, { text: 'b' }], role: 'user' }])
    })

    it('should refuse a conversation with only system messages', () => {
      const err = refusal(chat({}, [{ role: 'system', content: 'x' }]))
      expect(err.code).toBe('INVALID_REQUEST')
      expect(err.param).toBe('messages')
    })

    it.each(['function', 'bot', undefined])('should refuse the role %s', (role) => {
      const err = refusal(chat({}, [{ role, content: 'x' }]))
      expect(err.status).toBe(400)
      expect(err.param).toBe('messages.0.role')
    })
  })

  describe('user content parts', () => {
    const partsOf = (content: unknown) => requestOf(chat({}, [user(content)])).contents[0]?.parts

    it('should translate text, data-URL images, https images, audio and files', () => {
      expect(
        partsOf([
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a/cat.JPG?size=2' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=' } },
        ]),
      ).toEqual([
        { text: 'What is this?' },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
        { fileData: { fileUri: 'https://example.com/a/cat.JPG?size=2', mimeType: 'image/jpeg' } },
        { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
        { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
      ])
    })

    it.each([
      ['an https URL without an image extension', 'https://example.com/image', 'image_url.url'],
      ['an http URL', 'http://example.com/cat.png', 'image_url.url'],
      ['a gs URL', 'gs://bucket/cat.png', 'image_url.url'],
      ['a data URL that is not base64', 'data:image/png,rawbytes', 'image_url.url'],
    ])('should refuse %s with a 400 naming the part', (_, url, field) => {
      const err = refusal(chat({}, [user([{ type: 'image_url', image_url: { url } }])]))
      expect(err.code).toBe('INVALID_REQUEST')
      expect(err.param).toBe(`messages.0.content.0.${field}`)
    })

    it('should refuse file ids and unknown part types', () => {
      const fileId = refusal(chat({}, [user([{ type: 'file', file: { file_id: 'file-1' } }])]))
      expect(fileId.param).toBe('messages.0.content.0.file')
      const other = refusal(chat({}, [user([{ type: 'video', video: {} }])]))
      expect(other.param).toBe('messages.0.content.0.type')
    })
  })

  describe('tool calls and tool results', () => {
    it('should send tool calls as functionCall parts after the assistant text', () => {
      const request = requestOf(
        chat({}, [
          user('weather?'),
          {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
              { id: 'b', type: 'function', function: { name: 'g', arguments: '' } },
            ],
          },
        ]),
      )
      expect(request.contents[1]).toEqual({
        parts: [
          { text: 'Let me check.' },
          { functionCall: { name: 'f', args: { x: 1 } } },
          { functionCall: { name: 'g', args: {} } },
        ],
        role: 'model',
      })
    })

    it.each(['{not json', '[1,2]', '"text"'])(
      'should refuse arguments %s with a 400 naming the message',
      (args) => {
        const err = refusal(chat({}, [user('x'), assistantCall('a', 'f', args)]))
        expect(err.code).toBe('INVALID_REQUEST')
        expect(err.param).toBe('messages.1.tool_calls.0.function.arguments')
      },
    )

    it('should name each tool result after its call and merge the results in one turn', () => {
      const request = requestOf(
        chat({}, [
          user('x'),
          {
            role: 'assistant',
            tool_calls: [
              { id: 'c1', type: 'function', function: { name: 'first', arguments: '{}' } },
              { id: 'c2', type: 'function', function: { name: 'second', arguments: '{}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'c2', content: '{"temp":21}' },
          { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
          user('thanks'),
        ]),
      )
      expect(request.contents[2]).toEqual({
        parts: [
          { functionResponse: { name: 'second', response: { temp: 21 } } },
          { functionResponse: { name: 'first', response: { output: 'sunny' } } },
          { text: 'thanks' },
        ],
        role: 'user',
      })
    })

    it.each([
      ['[1,2]', { output: [1, 2] }],
      ['42', { output: 42 }],
      ['null', { output: null }],
      ['', { output: '' }],
    ])('should wrap the non-object result %j', (content, response) => {
      const request = requestOf(
        chat({}, [
          user('x'),
          assistantCall('a', 'f'),
          { role: 'tool', tool_call_id: 'a', content },
        ]),
      )
      expect(request.contents[2]?.parts).toEqual([{ functionResponse: { name: 'f', response } }])
    })

    it('should take the tool message name when the id matches no call, else refuse', () => {
      const named = requestOf(
        chat({}, [user('x'), { role: 'tool', tool_call_id: 'zz', name: 'lookup', content: '{}' }]),
      )
      expect(named.contents[0]?.parts?.[1]).toEqual({
        functionResponse: { name: 'lookup', response: {} },
      })
      const err = refusal(
        chat({}, [user('x'), { role: 'tool', tool_call_id: 'zz', content: '{}' }]),
      )
      expect(err.param).toBe('messages.1.tool_call_id')
    })

    it('should refuse tool calls that are not functions', () => {
      const err = refusal(
        chat({}, [
          user('x'),
          { role: 'assistant', tool_calls: [{ id: 'a', type: 'custom', custom: { name: 'x' } }] },
        ]),
      )
      expect(err.param).toBe('messages.1.tool_calls.0')
    })
  })

  describe('thought signatures', () => {
    const callsOf = (model: string, ...calls: Body[]) =>
      requestOf(chat({}, [user('x'), { role: 'assistant', tool_calls: calls }]), model).contents[1]
        ?.parts

    const call = (id: string, extra: Body = {}): Body => ({
      id,
      type: 'function',
      function: { name: 'f', arguments: '{}' },
      ...extra,
    })

    it('should restore the signature carried in the id, in standard base64', () => {
      expect(callsOf('gemini-2.5-flash', call('call_1__thought__ab-_c9'), call('call_2'))).toEqual([
        { functionCall: { name: 'f', args: {} }, thoughtSignature: 'ab+/c9==' },
        { functionCall: { name: 'f', args: {} } },
      ])
    })

    it("should read Google's extra_content.google.thought_signature", () => {
      const extra = { extra_content: { google: { thought_signature: 'c2ln' } } }
      expect(callsOf('gemini-3-pro-preview', call('call_1', extra))).toEqual([
        { functionCall: { name: 'f', args: {} }, thoughtSignature: 'c2ln' },
      ])
    })

    it('should give Gemini 3 the documented stand-in on the first call of an unsigned turn', () => {
      expect(callsOf('gemini-3-flash-preview', call('call_1'), call('call_2'))).toEqual([
        { functionCall: { name: 'f', args: {} }, thoughtSignature: FOREIGN_SIGNATURE },
        { functionCall: { name: 'f', args: {} } },
      ])
    })

    it('should leave unsigned calls alone for earlier models', () => {
      expect(callsOf('gemini-2.5-pro', call('call_1'))).toEqual([
        { functionCall: { name: 'f', args: {} } },
      ])
    })
  })

  describe('tools and tool_choice', () => {
    const tools = [
      {
        type: 'function',
        function: { name: 'a', description: 'A', parameters: { type: 'object' } },
      },
      { type: 'function', function: { name: 'b' } },
    ]

    it('should declare functions with their JSON Schema as parametersJsonSchema', () => {
      expect(requestOf(chat({ tools })).tools).toEqual([
        {
          functionDeclarations: [
            { name: 'a', description: 'A', parametersJsonSchema: { type: 'object' } },
            { name: 'b' },
          ],
        },
      ])
    })

    it('should refuse tools other than functions', () => {
      const err = refusal(chat({ tools: [{ type: 'custom', custom: { name: 'x' } }] }))
      expect(err.code).toBe('UNSUPPORTED_BY_PROVIDER')
      expect(err.param).toBe('tools.0.type')
    })

    it.each([
      ['auto', { mode: 'AUTO' }],
      ['none', { mode: 'NONE' }],
      ['required', { mode: 'ANY' }],
      [
        { type: 'function', function: { name: 'b' } },
        { mode: 'ANY', allowedFunctionNames: ['b'] },
      ],
    ])('should map tool_choice %j', (choice, config) => {
      expect(requestOf(chat({ tools, tool_choice: choice })).toolConfig).toEqual({
        functionCallingConfig: config,
      })
    })

    it('should keep only the allowed tools for allowed_tools', () => {
      const request = requestOf(
        chat({
          tools,
          tool_choice: {
            type: 'allowed_tools',
            allowed_tools: {
              mode: 'required',
              tools: [{ type: 'function', function: { name: 'b' } }],
            },
          },
        }),
      )
      expect(request.tools).toEqual([{ functionDeclarations: [{ name: 'b' }] }])
      expect(request.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } })
    })
  })

  describe('generation settings', () => {
    it('should map the sampling and length fields', () => {
      const request = requestOf(
        chat({
          temperature: 0.2,
          top_p: 0.9,
          n: 2,
          stop: 'END',
          max_tokens: 50,
          max_completion_tokens: 100,
          seed: 7,
          presence_penalty: 0.5,
          frequency_penalty: -0.5,
        }),
      )
      expect(request.generationConfig).toEqual({
        temperature: 0.2,
        topP: 0.9,
        candidateCount: 2,
        stopSequences: ['END'],
        maxOutputTokens: 100,
        seed: 7,
        presencePenalty: 0.5,
        frequencyPenalty: -0.5,
      })
    })

    it('should send an empty generationConfig by default and skip n = 1 and nulls', () => {
      const request = requestOf(chat({ n: 1, temperature: null, stop: null, max_tokens: 5 }))
      expect(request.generationConfig).toEqual({ maxOutputTokens: 5 })
      expect(requestOf(chat({})).generationConfig).toEqual({})
    })

    it('should take stop as an array', () => {
      expect(requestOf(chat({ stop: ['a', 'b'] })).generationConfig.stopSequences).toEqual([
        'a',
        'b',
      ])
    })

    it.each([
      ['temperature', '0.5'],
      ['n', 1.5],
      ['n', 0],
      ['max_tokens', 'many'],
      ['stop', [1]],
    ])('should refuse %s = %j', (field, value) => {
      const err = refusal(chat({ [field]: value }))
      expect(err.code).toBe('INVALID_REQUEST')
      expect(err.param).toBe(field)
    })

    it.each([
      [{ type: 'text' }, {}],
      [{ type: 'json_object' }, { responseMimeType: 'application/json' }],
      [
        {
          type: 'json_schema',
          json_schema: { name: 'x', schema: { type: 'object' }, strict: true },
        },
        { responseMimeType: 'application/json', responseJsonSchema: { type: 'object' } },
      ],
    ])('should map response_format %j', (format, config) => {
      expect(requestOf(chat({ response_format: format })).generationConfig).toEqual(config)
    })
  })

  describe('reasoning_effort', () => {
    it.each([
      ['gemini-2.5-flash', 'low', { thinkingBudget: 1024, includeThoughts: true }],
      ['gemini-2.5-flash', 'medium', { thinkingBudget: 8192, includeThoughts: true }],
      ['gemini-2.5-pro', 'high', { thinkingBudget: 24576, includeThoughts: true }],
      ['gemini-2.5-flash', 'none', { thinkingBudget: 0 }],
      ['gemini-flash-latest', 'minimal', { thinkingBudget: 512, includeThoughts: true }],
      ['gemini-3-pro-preview', 'low', { thinkingLevel: 'LOW', includeThoughts: true }],
      ['models/gemini-3-flash', 'minimal', { thinkingLevel: 'MINIMAL', includeThoughts: true }],
      ['gemini-3-flash', 'xhigh', { thinkingLevel: 'HIGH', includeThoughts: true }],
      ['gemini-3-flash', 'none', { thinkingLevel: 'MINIMAL' }],
    ])('should map %s with %s', (model, effort, config) => {
      expect(
        requestOf(chat({ reasoning_effort: effort }), model).generationConfig.thinkingConfig,
      ).toEqual(config)
    })

    it('should refuse an unknown effort', () => {
      expect(refusal(chat({ reasoning_effort: 'extreme' })).param).toBe('reasoning_effort')
    })

    it('should show reasoning only for an effort other than none', () => {
      expect(wantsReasoning(chat({ reasoning_effort: 'low' }))).toBe(true)
      expect(wantsReasoning(chat({ reasoning_effort: 'none' }))).toBe(false)
      expect(wantsReasoning(chat({}))).toBe(false)
    })
  })

  describe('fields Gemini cannot take', () => {
    it('should drop and name hints, metadata and unknown fields', () => {
      const { dropped } = translate(
        chat({
          user: 'u-1',
          metadata: { a: 'b' },
          store: true,
          service_tier: 'auto',
          parallel_tool_calls: false,
          logit_bias: { '50256': -100 },
          x_vendor: 1,
          stream: true,
          stream_options: { include_usage: true },
          logprobs: false,
          modalities: ['text'],
        }),
      )
      expect(dropped).toEqual([
        'user',
        'metadata',
        'store',
        'service_tier',
        'parallel_tool_calls',
        'logit_bias',
        'x_vendor',
      ])
    })

    it('should not report fields sent as null or a parallel_tool_calls Gemini honours', () => {
      expect(translate(chat({ user: null, parallel_tool_calls: true })).dropped).toEqual([])
    })

    it.each([
      ['logprobs', true],
      ['top_logprobs', 3],
      ['audio', { voice: 'alloy', format: 'wav' }],
      ['modalities', ['text', 'audio']],
      ['web_search_options', {}],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
    ])('should refuse %s with a 400 naming it', (field, value) => {
      const err = refusal(chat({ [field]: value }))
      expect(err.code).toBe('UNSUPPORTED_BY_PROVIDER')
      expect(err.status).toBe(400)
      expect(err.param).toBe(field)
    })
  })
})
