/// <reference types="vite/client" />
import { anthropicSchema } from './schema'
import { describe, expect, it } from 'vitest'
import roundtripRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json?raw'
import structuredRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_429_then_200_d743d628.json?raw'
import streamRecording from '../../../test/fixtures/anthropic/sdk-python/recorded_stream_tool_use_555fb399.json?raw'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import {
  FALLBACK_MAX_TOKENS,
  JSON_TOOL_NAME,
  defaultMaxTokens,
  responsePlan,
  toAnthropicRequest,
  type AnthropicPrepared,
} from './request'

type Body = Record<string, unknown>
type Exchange = { request: { body: Body }; response: { status_code: number; body: unknown } }

const exchanges = (raw: string): Exchange[] => JSON.parse(raw) as Exchange[]

const MODEL = 'claude-sonnet-4-5'
const user = { role: 'user', content: 'Hello' }

/** Translates an OpenAI body (model and messages defaulted) as the gateway would. */
const translate = (fields: Body, model = MODEL): AnthropicPrepared =>
  toAnthropicRequest(toParsedRequest('chat', { model, messages: [user], ...fields }), model)

/** The body as it goes on the wire. */
const bodyOf = (fields: Body, model = MODEL): Body =>
  JSON.parse(JSON.stringify(translate(fields, model).body)) as Body

/** The GatewayError a translation throws (fails the test when it throws nothing). */
const rejection = (fields: Body): GatewayError => {
  try {
    translate(fields)
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

describe('toAnthropicRequest', () => {
  describe('the basics', () => {
    it('should send the model, a default max_tokens and the messages, nothing else', () => {
      expect(translate({})).toEqual({
        body: { model: MODEL, max_tokens: 64000, messages: [user] },
        dropped: [],
      })
    })

    it('should send stream: true only for a streamed request, consuming stream_options', () => {
      expect(
        translate({ stream: true, stream_options: { include_usage: true } }).body,
      ).toMatchObject({ stream: true })
      const { body, dropped } = translate({ stream: false })
      expect(body).not.toHaveProperty('stream')
      expect(dropped).toEqual([])
    })

    it('should prefer max_completion_tokens over max_tokens', () => {
      expect(bodyOf({ max_completion_tokens: 300, max_tokens: 99 }).max_tokens).toBe(300)
      expect(bodyOf({ max_tokens: 99 }).max_tokens).toBe(99)
    })

    it('should reject a max_tokens that is not a non-negative integer', () => {
      const err = rejection({ max_tokens: 12.5 })
      expect([err.code, err.status, err.param]).toEqual(['INVALID_REQUEST', 400, 'max_tokens'])
      expect(rejection({ max_completion_tokens: -1 }).param).toBe('max_completion_tokens')
    })

    it('should map stop to stop_sequences', () => {
      expect(bodyOf({ stop: 'END' }).stop_sequences).toEqual(['END'])
      expect(bodyOf({ stop: ['a', 'b'] }).stop_sequences).toEqual(['a', 'b'])
      expect(bodyOf({ stop: null })).not.toHaveProperty('stop_sequences')
      expect(rejection({ stop: [1] }).param).toBe('stop.0')
    })

    it('should pass temperature 0..1, top_p and top_k through', () => {
      expect(bodyOf({ temperature: 0.4, top_p: 0.9, top_k: 40 })).toMatchObject({
        temperature: 0.4,
        top_p: 0.9,
        top_k: 40,
      })
      expect(bodyOf({ temperature: 1 }).temperature).toBe(1)
    })

    it('should reject a temperature above 1 rather than change it', () => {
      const err = rejection({ temperature: 1.5 })
      expect([err.code, err.status, err.param]).toEqual([
        'UNSUPPORTED_BY_PROVIDER',
        400,
        'temperature',
      ])
      expect(err.message).toContain('0 to 1')
      expect(rejection({ temperature: 'hot' }).code).toBe('INVALID_REQUEST')
    })

    it('should send user (or safety_identifier, which wins) as metadata.user_id', () => {
      expect(bodyOf({ user: 'u-1' }).metadata).toEqual({ user_id: 'u-1' })
      expect(bodyOf({ user: 'u-1', safety_identifier: 's-1' }).metadata).toEqual({
        user_id: 's-1',
      })
    })
  })

  describe('default max_tokens', () => {
    it.each([
      ['claude-3-haiku-20240307', 4096],
      ['claude-3-opus-latest', 4096],
      ['claude-3-5-haiku-latest', 8192],
      ['claude-3-5-sonnet-20241022', 8192],
      ['claude-3-7-sonnet-latest', 64000],
      ['claude-opus-4-20250514', 32000],
      ['claude-opus-4-1-20250805', 32000],
      ['claude-opus-4-5-20251101', 64000],
      ['claude-opus-4-8', 64000],
      ['claude-sonnet-4-20250514', 64000],
      ['claude-sonnet-4-6', 64000],
      ['claude-haiku-4-5-20251001', 64000],
      ['claude-sonnet-5', 64000],
      ['claude-2.1', FALLBACK_MAX_TOKENS],
      ['my-fine-tune', FALLBACK_MAX_TOKENS],
    ])('should default %s to %i', (model, expected) => {
      expect(defaultMaxTokens(model)).toBe(expected)
      expect(bodyOf({}, model).max_tokens).toBe(expected)
    })

    it('should fall back to 4096', () => {
      expect(FALLBACK_MAX_TOKENS).toBe(4096)
    })
  })

  describe('tools and tool_choice', () => {
    it('should translate function tools, defaulting the schema to an object', () => {
      const body = bodyOf({
        tools: [weatherTool, { type: 'function', function: { name: 'now', strict: true } }],
      })
      expect(body.tools).toEqual([
        {
          name: 'get_weather',
          description: 'Weather for a city',
          input_schema: {
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
          },
        },
        { name: 'now', input_schema: { type: 'object' }, strict: true },
      ])
      expect(body).not.toHaveProperty('tool_choice')
    })

    it('should reject custom tools', () => {
      const err = rejection({ tools: [{ type: 'custom', custom: { name: 'grammar' } }] })
      expect([err.code, err.param]).toEqual(['UNSUPPORTED_BY_PROVIDER', 'tools.0'])
    })

    it.each([
      ['auto', { type: 'auto' }, undefined],
      ['none', { type: 'none' }, undefined],
      ['required', { type: 'any' }, undefined],
      [
        { type: 'function', function: { name: 'get_weather' } },
        { type: 'tool', name: 'get_weather' },
        undefined,
      ],
      ['required', { type: 'any', disable_parallel_tool_use: true }, false],
      [undefined, { type: 'auto', disable_parallel_tool_use: true }, false],
    ])('should map tool_choice %j to %j', (choice, expected, parallel) => {
      const body = bodyOf({
        tools: [weatherTool],
        ...(choice === undefined ? {} : { tool_choice: choice }),
        ...(parallel === undefined ? {} : { parallel_tool_calls: parallel }),
      })
      // Anthropic's default is auto: an explicit auto without the parallel flag is left out.
      if (choice === 'auto') expect(body).not.toHaveProperty('tool_choice')
      else expect(body.tool_choice).toEqual(expected)
    })

    it('should leave parallel_tool_calls: true as Anthropic default', () => {
      const { body, dropped } = translate({ tools: [weatherTool], parallel_tool_calls: true })
      expect(body).not.toHaveProperty('tool_choice')
      expect(dropped).toEqual([])
    })

    it('should reject allowed_tools choices', () => {
      const err = rejection({
        tools: [weatherTool],
        tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } },
      })
      expect([err.code, err.param]).toEqual(['UNSUPPORTED_BY_PROVIDER', 'tool_choice'])
    })
  })

  describe('reasoning_effort', () => {
    it.each([
      ['minimal', 1024],
      ['low', 2048],
      ['medium', 8192],
      ['high', 16384],
      ['xhigh', 32768],
    ])('should map %s to a thinking budget of %i', (effort, budget) => {
      expect(bodyOf({ reasoning_effort: effort, max_tokens: 100000 }).thinking).toEqual({
        type: 'enabled',
        budget_tokens: budget,
      })
    })

    it('should send no thinking for none', () => {
      expect(bodyOf({ reasoning_effort: 'none' })).not.toHaveProperty('thinking')
    })

    it('should keep the budget within max_tokens', () => {
      expect(bodyOf({ reasoning_effort: 'high', max_completion_tokens: 10000 }).thinking).toEqual({
        type: 'enabled',
        budget_tokens: 5000,
      })
      expect(bodyOf({ reasoning_effort: 'high', max_tokens: 1500 }).thinking).toEqual({
        type: 'enabled',
        budget_tokens: 1024,
      })
      expect(bodyOf({ reasoning_effort: 'high' }, 'unknown-model')).toMatchObject({
        max_tokens: 4096,
        thinking: { type: 'enabled', budget_tokens: 2048 },
      })
    })

    it('should reject reasoning with no room for the minimum budget', () => {
      const err = rejection({ reasoning_effort: 'low', max_completion_tokens: 1024 })
      expect([err.code, err.param]).toEqual(['UNSUPPORTED_BY_PROVIDER', 'max_completion_tokens'])
    })

    it('should send no thinking while a tool loop is in progress, and say so', () => {
      const toolTurn = {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      }
      const loop = translate({
        reasoning_effort: 'low',
        messages: [user, toolTurn, { role: 'tool', tool_call_id: 'toolu_1', content: 'ok' }],
      })
      expect(loop.body).not.toHaveProperty('thinking')
      expect(loop.dropped).toEqual(['reasoning_effort'])

      const after = translate({
        reasoning_effort: 'low',
        messages: [
          user,
          toolTurn,
          { role: 'tool', tool_call_id: 'toolu_1', content: 'ok' },
          { role: 'assistant', content: 'Done.' },
          { role: 'user', content: 'Next question' },
        ],
      })
      expect(after.body.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 })
      expect(after.dropped).toEqual([])
    })

    it('should reject an unknown effort', () => {
      expect(rejection({ reasoning_effort: 'extreme' }).param).toBe('reasoning_effort')
    })
  })

  describe('response_format', () => {
    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }

    it('should send json_schema as output_config.format', () => {
      const body = bodyOf({
        response_format: { type: 'json_schema', json_schema: { name: 'A', schema, strict: true } },
      })
      // Adapted as Anthropic's SDKs adapt a schema (`schema.ts`): objects closed.
      expect(body.output_config).toEqual({
        format: { type: 'json_schema', schema: anthropicSchema(schema) },
      })
      expect(body).not.toHaveProperty('tools')
    })

    it('should move keywords structured outputs reject into descriptions, never drop them', () => {
      const body = bodyOf({
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'A',
            schema: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              properties: { n: { type: 'integer', minimum: 1 } },
            },
          },
        },
      })
      expect(body.output_config).toEqual({
        format: {
          type: 'json_schema',
          schema: {
            type: 'object',
            description: '{$schema: "http://json-schema.org/draft-07/schema#"}',
            properties: { n: { type: 'integer', description: '{minimum: 1}' } },
            additionalProperties: false,
          },
        },
      })
    })

    it('should force the json_response tool for json_object', () => {
      const body = bodyOf({ response_format: { type: 'json_object' } })
      expect(body.tools).toEqual([
        expect.objectContaining({ name: JSON_TOOL_NAME, input_schema: { type: 'object' } }),
      ])
      expect(body.tool_choice).toEqual({ type: 'tool', name: JSON_TOOL_NAME })
    })

    it('should treat a json_schema without a schema as json_object', () => {
      const body = bodyOf({ response_format: { type: 'json_schema', json_schema: { name: 'A' } } })
      expect(body.tool_choice).toEqual({ type: 'tool', name: JSON_TOOL_NAME })
    })

    it('should ignore text', () => {
      const { body, dropped } = translate({ response_format: { type: 'text' } })
      expect(body).toEqual({ model: MODEL, max_tokens: 64000, messages: [user] })
      expect(dropped).toEqual([])
    })

    it('should reject json_object with tools or with reasoning', () => {
      const withTools = rejection({
        response_format: { type: 'json_object' },
        tools: [weatherTool],
      })
      expect([withTools.code, withTools.param]).toEqual([
        'UNSUPPORTED_BY_PROVIDER',
        'response_format',
      ])
      const withThinking = rejection({
        response_format: { type: 'json_object' },
        reasoning_effort: 'low',
      })
      expect(withThinking.param).toBe('response_format')
    })

    it('should reject an unknown format type', () => {
      expect(rejection({ response_format: { type: 'yaml' } }).param).toBe('response_format')
    })
  })

  describe('fields Anthropic cannot honour', () => {
    it.each([
      ['n', { n: 2 }],
      ['logprobs', { logprobs: true }],
      ['logprobs', { top_logprobs: 3 }],
      ['modalities', { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'mp3' } }],
      ['web_search_options', { web_search_options: {} }],
      ['functions', { functions: [{ name: 'f' }] }],
      ['function_call', { function_call: 'auto' }],
    ])('should reject %s with a 400', (param, fields) => {
      const err = rejection(fields)
      expect([err.status, err.code, err.param]).toEqual([400, 'UNSUPPORTED_BY_PROVIDER', param])
    })

    it('should accept their no-op values without reporting them', () => {
      expect(translate({ n: 1, logprobs: false, top_logprobs: null }).dropped).toEqual([])
    })

    it('should drop fields with no Anthropic equivalent and list them, but not nulls', () => {
      const { body, dropped } = translate({
        frequency_penalty: 0.5,
        presence_penalty: 0,
        logit_bias: { '50256': -100 },
        seed: 7,
        store: true,
        metadata: { team: 'a' },
        service_tier: 'flex',
        prompt_cache_key: 'k',
        verbosity: 'low',
        modalities: ['text'],
        x_future: 1,
        seed_null: null,
      })
      expect(dropped).toEqual([
        'frequency_penalty',
        'presence_penalty',
        'logit_bias',
        'seed',
        'store',
        'metadata',
        'service_tier',
        'prompt_cache_key',
        'verbosity',
        'modalities',
        'x_future',
      ])
      expect(body).toEqual({ model: MODEL, max_tokens: 64000, messages: [user] })
    })
  })

  describe('against recorded Anthropic requests', () => {
    it('should build the recorded tool round trip from its OpenAI equivalent', () => {
      const [, second] = exchanges(roundtripRecording)
      const recorded = second?.request.body
      const tool = (recorded?.tools as Body[] | undefined)?.[0]
      const { body } = translate(
        {
          max_tokens: 1024,
          messages: [
            { role: 'user', content: "What's the weather in SF in Celsius?" },
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'toolu_013DU6hV4C1M8dJ32ybQFAFi',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"location":"SF","units":"c"}' },
                },
              ],
            },
            {
              role: 'tool',
              tool_call_id: 'toolu_013DU6hV4C1M8dJ32ybQFAFi',
              content: '{"location": "SF", "temperature": "20\\u00b0C", "condition": "Sunny"}',
            },
          ],
          tools: [
            {
              type: 'function',
              function: { name: tool?.name, description: '', parameters: tool?.input_schema },
            },
          ],
        },
        'claude-haiku-4-5',
      )
      // The SDK echoes the response's `caller` on tool_use blocks; it is optional on requests.
      expect(body).toEqual(withoutCaller(recorded))
    })

    it('should build the recorded streamed tool request', () => {
      const [first] = exchanges(streamRecording)
      const recorded = first?.request.body
      const tool = (recorded?.tools as Body[] | undefined)?.[0]
      const { body } = translate(
        {
          max_tokens: 1024,
          messages: [{ role: 'user', content: 'What is the weather in SF?' }],
          tools: [
            {
              type: 'function',
              function: {
                name: tool?.name,
                description: tool?.description,
                parameters: tool?.input_schema,
              },
            },
          ],
          stream: true,
        },
        'claude-haiku-4-5',
      )
      expect(body).toEqual(recorded)
    })

    it('should build the recorded structured-output request from json_schema', () => {
      const recorded = exchanges(structuredRecording).at(-1)?.request.body
      const format = (recorded?.output_config as { format: { schema: Body } } | undefined)?.format
      const { body } = translate(
        {
          max_completion_tokens: 1024,
          messages: recorded?.messages,
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'OrderDetails', schema: format?.schema, strict: true },
          },
        },
        'claude-sonnet-4-5',
      )
      expect(body).toEqual(recorded)
    })
  })
})

describe('responsePlan', () => {
  it('should show reasoning only when an effort other than none was asked for', () => {
    expect(responsePlan({ reasoning_effort: 'low' }).showReasoning).toBe(true)
    expect(responsePlan({ reasoning_effort: 'none' }).showReasoning).toBe(false)
    expect(responsePlan({}).showReasoning).toBe(false)
  })

  it('should name the json tool only for json_object answers', () => {
    expect(responsePlan({ response_format: { type: 'json_object' } }).jsonTool).toBe(JSON_TOOL_NAME)
    expect(
      responsePlan({ response_format: { type: 'json_schema', json_schema: { schema: {} } } })
        .jsonTool,
    ).toBeUndefined()
    expect(responsePlan({}).jsonTool).toBeUndefined()
  })
})

function withoutCaller(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCaller)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'caller')
      .map(([key, inner]) => [key, withoutCaller(inner)]),
  )
}
