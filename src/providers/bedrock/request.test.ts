import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import { documentName } from './messages'
import {
  claudeModel,
  JSON_TOOL_NAME,
  responsePlan,
  toConverseRequest,
  type BedrockPrepared,
} from './request'

type Body = Record<string, unknown>

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0'
const NOVA = 'amazon.nova-lite-v1:0'
const user = { role: 'user', content: 'Hello' }

/** Translates an OpenAI body (messages defaulted) as the gateway would. */
const translate = (fields: Body, model = NOVA): BedrockPrepared =>
  toConverseRequest(
    toParsedRequest('chat', { model: `bedrock/${model}`, messages: [user], ...fields }),
    model,
  )

/** The body as it goes on the wire. */
const bodyOf = (fields: Body, model = NOVA): Body =>
  JSON.parse(JSON.stringify(translate(fields, model).body)) as Body

/** The GatewayError a translation throws (fails the test when it throws nothing). */
const rejection = (fields: Body, model = NOVA): GatewayError => {
  try {
    translate(fields, model)
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('expected the translation to throw')
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}
const weatherSpec = {
  toolSpec: {
    name: 'get_weather',
    description: 'Weather for a city',
    inputSchema: {
      json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
}
const PNG = 'iVBORw0KGgo='

describe('toConverseRequest', () => {
  describe('the basics', () => {
    it('should send the messages and nothing else (no maxTokens: the model default)', () => {
      expect(translate({})).toEqual({
        body: { messages: [{ role: 'user', content: [{ text: 'Hello' }] }] },
        dropped: [],
      })
    })

    it('should leave the model and stream out of the body (they are the URL)', () => {
      expect(bodyOf({ stream: true, stream_options: { include_usage: true } })).toEqual({
        messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
      })
    })
  })

  describe('inferenceConfig', () => {
    it('should map max_completion_tokens, max_tokens (the first set wins)', () => {
      expect(bodyOf({ max_tokens: 100 }).inferenceConfig).toEqual({ maxTokens: 100 })
      expect(bodyOf({ max_completion_tokens: 50, max_tokens: 100 }).inferenceConfig).toEqual({
        maxTokens: 50,
      })
    })

    it('should map temperature, top_p and stop', () => {
      expect(bodyOf({ temperature: 0.2, top_p: 0.9, stop: 'END' }).inferenceConfig).toEqual({
        temperature: 0.2,
        topP: 0.9,
        stopSequences: ['END'],
      })
      expect(bodyOf({ stop: ['a', 'b'] }).inferenceConfig).toEqual({ stopSequences: ['a', 'b'] })
    })

    it('should refuse a temperature above 1 rather than change sampling silently', () => {
      const err = rejection({ temperature: 1.5 })
      expect([err.status, err.code, err.param]).toEqual([
        400,
        'UNSUPPORTED_BY_PROVIDER',
        'temperature',
      ])
    })

    it('should refuse malformed values naming them', () => {
      expect(rejection({ max_tokens: 1.5 }).param).toBe('max_tokens')
      expect(rejection({ max_completion_tokens: -1 }).param).toBe('max_completion_tokens')
      expect(rejection({ top_p: 'high' }).param).toBe('top_p')
      expect(rejection({ stop: 3 }).param).toBe('stop')
      expect(rejection({ stop: ['a', 1] }).param).toBe('stop.1')
    })
  })

  describe('messages', () => {
    it('should move system and developer messages, wherever they are, to system blocks', () => {
      const body = bodyOf({
        messages: [
          { role: 'system', content: 'Be brief.' },
          user,
          { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] },
        ],
      })
      expect(body.system).toEqual([{ text: 'Be brief.' }, { text: 'Use French.' }])
      expect(body.messages).toEqual([{ role: 'user', content: [{ text: 'Hello' }] }])
    })

    it('should turn an image data URL into image bytes with its format', () => {
      const body = bodyOf({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              {
                type: 'image_url',
                image_url: { url: `data:image/png;base64,${PNG}`, detail: 'high' },
              },
              { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${PNG}` } },
            ],
          },
        ],
      })
      expect(body.messages).toEqual([
        {
          role: 'user',
          content: [
            { text: 'What is this?' },
            { image: { format: 'png', source: { bytes: PNG } } },
            { image: { format: 'jpeg', source: { bytes: PNG } } },
          ],
        },
      ])
    })

    it('should take an s3:// image as an S3 location', () => {
      const body = bodyOf({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 's3://bucket/cat.webp' } }],
          },
        ],
      })
      expect(body.messages).toEqual([
        {
          role: 'user',
          content: [
            { image: { format: 'webp', source: { s3Location: { uri: 's3://bucket/cat.webp' } } } },
          ],
        },
      ])
    })

    it('should refuse an http(s) image URL naming the field (Converse needs the bytes)', () => {
      const err = rejection({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look' },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            ],
          },
        ],
      })
      expect([err.status, err.code, err.param]).toEqual([
        400,
        'UNSUPPORTED_BY_PROVIDER',
        'messages.0.content.1.image_url.url',
      ])
      expect(err.message).toContain('data:')
    })

    it('should refuse an image type Converse does not take', () => {
      const err = rejection({
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: `data:image/bmp;base64,${PNG}` } }],
          },
        ],
      })
      expect(err.param).toBe('messages.0.content.0.image_url.url')
    })

    it('should turn a PDF file part into a document with a name Converse allows', () => {
      const body = bodyOf({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'file',
                file: {
                  filename: 'Q3 report (final).v2.pdf',
                  file_data: `data:application/pdf;base64,${PNG}`,
                },
              },
            ],
          },
        ],
      })
      expect(body.messages).toEqual([
        {
          role: 'user',
          content: [
            { document: { format: 'pdf', name: 'Q3 report (final)-v2', source: { bytes: PNG } } },
          ],
        },
      ])
    })

    it('should name a document without a filename by its position', () => {
      expect(documentName(undefined, 'document 0-1')).toBe('document 0-1')
      expect(documentName('..', 'fallback')).toBe('-')
      expect(documentName('a\t\tb.txt', 'x')).toBe('a b')
    })

    it('should refuse audio, file ids and unknown parts naming them', () => {
      const part = (p: Body) => rejection({ messages: [{ role: 'user', content: [p] }] })
      expect(part({ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }).param).toBe(
        'messages.0.content.0',
      )
      expect(part({ type: 'file', file: { file_id: 'file-abc' } }).param).toBe(
        'messages.0.content.0.file',
      )
      expect(part({ type: 'video', video: {} }).param).toBe('messages.0.content.0.type')
    })

    it('should follow a part with cache_control by a cache point', () => {
      const body = bodyOf({
        messages: [
          {
            role: 'system',
            content: [
              { type: 'text', text: 'Long instructions', cache_control: { type: 'ephemeral' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Long document', cache_control: { type: 'ephemeral' } },
            ],
          },
        ],
      })
      expect(body.system).toEqual([
        { text: 'Long instructions' },
        { cachePoint: { type: 'default' } },
      ])
      expect(body.messages).toEqual([
        { role: 'user', content: [{ text: 'Long document' }, { cachePoint: { type: 'default' } }] },
      ])
    })

    it('should turn assistant tool calls into toolUse and tool messages into toolResult', () => {
      const body = bodyOf({
        tools: [weatherTool],
        messages: [
          user,
          {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              {
                id: 'tooluse_a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              {
                id: 'tooluse_b',
                type: 'function',
                function: { name: 'get_weather', arguments: '' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'tooluse_a', content: '18°C' },
          { role: 'tool', tool_call_id: 'tooluse_b', content: [{ type: 'text', text: 'rain' }] },
        ],
      })
      expect(body.messages).toEqual([
        { role: 'user', content: [{ text: 'Hello' }] },
        {
          role: 'assistant',
          content: [
            { text: 'Checking.' },
            { toolUse: { toolUseId: 'tooluse_a', name: 'get_weather', input: { city: 'Paris' } } },
            { toolUse: { toolUseId: 'tooluse_b', name: 'get_weather', input: {} } },
          ],
        },
        {
          // Consecutive results merged into one user turn.
          role: 'user',
          content: [
            { toolResult: { toolUseId: 'tooluse_a', content: [{ text: '18°C' }] } },
            { toolResult: { toolUseId: 'tooluse_b', content: [{ text: 'rain' }] } },
          ],
        },
      ])
    })

    it('should merge consecutive turns of one role and leave out empty assistant text', () => {
      const body = bodyOf({
        messages: [user, { role: 'user', content: 'again' }, { role: 'assistant', content: '' }],
      })
      expect(body.messages).toEqual([
        { role: 'user', content: [{ text: 'Hello' }, { text: 'again' }] },
      ])
    })

    it('should keep an assistant refusal as text', () => {
      const body = bodyOf({
        messages: [
          user,
          { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] },
          user,
        ],
      })
      expect(body.messages).toEqual([
        { role: 'user', content: [{ text: 'Hello' }] },
        { role: 'assistant', content: [{ text: 'No.' }] },
        { role: 'user', content: [{ text: 'Hello' }] },
      ])
    })

    it('should refuse tool arguments that are not a JSON object, naming them', () => {
      const err = rejection({
        tools: [weatherTool],
        messages: [
          user,
          {
            role: 'assistant',
            tool_calls: [
              { id: 'x', type: 'function', function: { name: 'get_weather', arguments: '[1]' } },
            ],
          },
        ],
      })
      expect([err.code, err.param]).toEqual([
        'INVALID_REQUEST',
        'messages.1.tool_calls.0.function.arguments',
      ])
    })

    it('should refuse the function role, an unknown role, and no conversation at all', () => {
      expect(rejection({ messages: [{ role: 'function', name: 'f', content: 'x' }] }).param).toBe(
        'messages.0.role',
      )
      expect(rejection({ messages: [{ role: 'robot', content: 'x' }] }).param).toBe(
        'messages.0.role',
      )
      expect(rejection({ messages: [{ role: 'system', content: 'x' }] }).param).toBe('messages')
    })
  })

  describe('tools and tool_choice', () => {
    it('should map function tools to toolSpecs with their schema as inputSchema.json', () => {
      expect(bodyOf({ tools: [weatherTool] }).toolConfig).toEqual({ tools: [weatherSpec] })
    })

    it('should give a tool without parameters an empty object schema', () => {
      const tool = { type: 'function', function: { name: 'now' } }
      expect(bodyOf({ tools: [tool] }).toolConfig).toEqual({
        tools: [
          { toolSpec: { name: 'now', inputSchema: { json: { type: 'object', properties: {} } } } },
        ],
      })
    })

    it('should map tool_choice: auto → default, required → any, a function → tool', () => {
      expect(bodyOf({ tools: [weatherTool], tool_choice: 'auto' }).toolConfig).toEqual({
        tools: [weatherSpec],
      })
      expect(bodyOf({ tools: [weatherTool], tool_choice: 'required' }).toolConfig).toEqual({
        tools: [weatherSpec],
        toolChoice: { any: {} },
      })
      expect(
        bodyOf({
          tools: [weatherTool],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
        }).toolConfig,
      ).toEqual({ tools: [weatherSpec], toolChoice: { tool: { name: 'get_weather' } } })
    })

    it('should send no tools for tool_choice: none', () => {
      expect(bodyOf({ tools: [weatherTool], tool_choice: 'none' }).toolConfig).toBeUndefined()
    })

    it('should refuse tool_choice: none, or no tools, while the conversation holds tool calls', () => {
      const loop = [
        user,
        {
          role: 'assistant',
          tool_calls: [
            { id: 't', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 't', content: 'sunny' },
      ]
      expect(rejection({ messages: loop, tools: [weatherTool], tool_choice: 'none' }).param).toBe(
        'tool_choice',
      )
      expect(rejection({ messages: loop }).param).toBe('tools')
    })

    it('should refuse custom tools and allowed_tools choices', () => {
      expect(rejection({ tools: [{ type: 'custom', custom: { name: 'x' } }] }).param).toBe(
        'tools.0',
      )
      expect(
        rejection({
          tools: [weatherTool],
          tool_choice: { type: 'allowed_tools', allowed_tools: {} },
        }).param,
      ).toBe('tool_choice')
    })

    it("should drop parallel_tool_calls and a tool's strict, naming the former", () => {
      const translated = translate({
        tools: [{ ...weatherTool, function: { ...weatherTool.function, strict: true } }],
        parallel_tool_calls: false,
      })
      expect(translated.dropped).toEqual(['parallel_tool_calls'])
      expect(JSON.stringify(translated.body)).not.toContain('strict')
    })
  })

  describe('response_format', () => {
    it("should force a json_response tool whose schema is the client's json_schema", () => {
      const schema = {
        type: 'object',
        properties: { answer: { type: 'string' } },
        required: ['answer'],
      }
      const body = bodyOf({
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'a', description: 'The answer', schema },
        },
      })
      expect(body.toolConfig).toEqual({
        tools: [
          {
            toolSpec: {
              name: JSON_TOOL_NAME,
              description: 'The answer',
              inputSchema: { json: schema },
            },
          },
        ],
        toolChoice: { tool: { name: JSON_TOOL_NAME } },
      })
    })

    it('should force a json_response tool taking any object for json_object', () => {
      const body = bodyOf({ response_format: { type: 'json_object' } })
      expect(body.toolConfig).toMatchObject({
        tools: [{ toolSpec: { name: JSON_TOOL_NAME, inputSchema: { json: { type: 'object' } } } }],
        toolChoice: { tool: { name: JSON_TOOL_NAME } },
      })
      expect(responsePlan({ response_format: { type: 'json_object' } }).jsonTool).toBe(
        JSON_TOOL_NAME,
      )
    })

    it('should send nothing for text', () => {
      expect(bodyOf({ response_format: { type: 'text' } }).toolConfig).toBeUndefined()
      expect(responsePlan({ response_format: { type: 'text' } }).jsonTool).toBeUndefined()
    })

    it('should refuse a schema that is not an object, tools alongside, and unknown types', () => {
      expect(
        rejection({
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'a', schema: { type: 'array' } },
          },
        }).param,
      ).toBe('response_format.json_schema.schema')
      expect(
        rejection({ response_format: { type: 'json_object' }, tools: [weatherTool] }).param,
      ).toBe('response_format')
      expect(rejection({ response_format: { type: 'yaml' } }).param).toBe('response_format')
      expect(rejection({ response_format: 'json' }).code).toBe('INVALID_REQUEST')
    })
  })

  describe('reasoning_effort', () => {
    it('should find the Claude model inside model ids and inference profiles', () => {
      expect(claudeModel(HAIKU)).toBe('claude-3-haiku-20240307-v1')
      expect(claudeModel('us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe(
        'claude-sonnet-4-5-20250929-v1',
      )
      expect(claudeModel(NOVA)).toBeUndefined()
    })

    it('should enable thinking on Claude with a budget within maxTokens', () => {
      const model = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
      const body = bodyOf({ reasoning_effort: 'low' }, model)
      expect(body.additionalModelRequestFields).toEqual({
        thinking: { type: 'enabled', budget_tokens: 2048 },
      })
      // The model's output limit, since thinking needs a budget within one.
      expect(body.inferenceConfig).toEqual({ maxTokens: 64000 })
      const capped = bodyOf({ reasoning_effort: 'high', max_tokens: 4000 }, model)
      expect(capped.additionalModelRequestFields).toEqual({
        thinking: { type: 'enabled', budget_tokens: 2000 },
      })
    })

    it("should refuse reasoning without room for Claude's minimum budget, naming the limit", () => {
      const err = rejection({ reasoning_effort: 'low', max_tokens: 1000 }, HAIKU)
      expect([err.code, err.param]).toEqual(['UNSUPPORTED_BY_PROVIDER', 'max_tokens'])
    })

    it('should drop reasoning_effort on other models, and during a Claude tool loop', () => {
      expect(translate({ reasoning_effort: 'medium' }, NOVA).dropped).toEqual(['reasoning_effort'])
      const loop = translate(
        {
          reasoning_effort: 'medium',
          tools: [weatherTool],
          messages: [
            user,
            {
              role: 'assistant',
              tool_calls: [
                { id: 't', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
              ],
            },
            { role: 'tool', tool_call_id: 't', content: 'sunny' },
          ],
        },
        HAIKU,
      )
      expect(loop.dropped).toEqual(['reasoning_effort'])
      expect(loop.body.additionalModelRequestFields).toBeUndefined()
    })

    it('should send nothing for none and refuse an unknown effort', () => {
      expect(translate({ reasoning_effort: 'none' }, HAIKU)).toEqual(translate({}, HAIKU))
      expect(rejection({ reasoning_effort: 'extreme' }, HAIKU).param).toBe('reasoning_effort')
    })

    it('should refuse a forced JSON tool while Claude thinks', () => {
      expect(
        rejection({ reasoning_effort: 'low', response_format: { type: 'json_object' } }, HAIKU)
          .param,
      ).toBe('response_format')
    })
  })

  describe('what cannot be honoured', () => {
    it('should refuse what would change the answer, naming it', () => {
      const cases: readonly [Body, string][] = [
        [{ n: 2 }, 'n'],
        [{ logprobs: true }, 'logprobs'],
        [{ top_logprobs: 3 }, 'logprobs'],
        [{ audio: { voice: 'alloy', format: 'wav' } }, 'modalities'],
        [{ modalities: ['text', 'audio'] }, 'modalities'],
        [{ web_search_options: {} }, 'web_search_options'],
        [{ functions: [] }, 'functions'],
        [{ function_call: 'auto' }, 'function_call'],
      ]
      for (const [fields, param] of cases) {
        const err = rejection(fields)
        expect([err.status, err.code, err.param], JSON.stringify(fields)).toEqual([
          400,
          'UNSUPPORTED_BY_PROVIDER',
          param,
        ])
      }
    })

    it('should drop hints and bookkeeping, naming each in dropped', () => {
      const translated = translate({
        user: 'u-1',
        seed: 7,
        frequency_penalty: 0.5,
        presence_penalty: 0.5,
        logit_bias: { '1': 2 },
        metadata: { a: 'b' },
        store: true,
        service_tier: 'auto',
        top_k: 5,
        n: 1,
        logprobs: false,
        modalities: ['text'],
        made_up_field: 1,
        safety_identifier: null,
      })
      expect(translated.dropped).toEqual([
        'user',
        'seed',
        'frequency_penalty',
        'presence_penalty',
        'logit_bias',
        'metadata',
        'store',
        'service_tier',
        'top_k',
        'modalities',
        'made_up_field',
      ])
      expect(translated.body).toEqual({
        messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
      })
    })
  })
})
