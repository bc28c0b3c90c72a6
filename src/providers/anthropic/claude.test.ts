/**
 * The checks both Claude front doors share (`claude.ts`), through each door's translation: the
 * same fields are refused with the same code and parameter, and each door's 400 reads as a
 * sentence in its own name.
 */
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../errors'
import { toParsedRequest } from '../../stages/parse-request'
import { responsePlan as bedrockPlan, toConverseRequest } from '../bedrock/request'
import { responsePlan as anthropicPlan, toAnthropicRequest } from './request'

type Body = Record<string, unknown>

const SONNET = 'claude-sonnet-4-5'
const BEDROCK_SONNET = 'anthropic.claude-sonnet-4-5-20250929-v1:0'

/** A chat request for `model`, a user's greeting unless `fields` say otherwise. */
const chat = (model: string, fields: Body) =>
  toParsedRequest('chat', { model, messages: [{ role: 'user', content: 'Hi' }], ...fields })

const doors = {
  anthropic: (fields: Body) => toAnthropicRequest(chat(`anthropic/${SONNET}`, fields), SONNET),
  bedrock: (fields: Body) =>
    toConverseRequest(chat(`bedrock/${BEDROCK_SONNET}`, fields), BEDROCK_SONNET),
}

/** What `door` answers `fields` with: code, parameter and message. */
const refusal = (door: keyof typeof doors, fields: Body): [string, string | null, string] => {
  try {
    doors[door](fields)
  } catch (err) {
    if (err instanceof GatewayError) return [err.code, err.param, err.message]
    throw err
  }
  throw new Error('expected the translation to throw')
}

const cases: [string, Body, string, string][] = [
  [
    'n',
    { n: 2 },
    'Anthropic models return one choice per request; send n: 1.',
    "Bedrock's Converse API returns one choice per request; send n: 1.",
  ],
  [
    'logprobs',
    { top_logprobs: 2 },
    'Anthropic models do not return log probabilities.',
    "Bedrock's Converse API does not return log probabilities.",
  ],
  [
    'modalities',
    { modalities: ['text', 'audio'] },
    'Anthropic models do not produce audio.',
    "Bedrock's Converse API does not produce audio.",
  ],
  [
    'web_search_options',
    { web_search_options: {} },
    'Web search is not available for Anthropic models through this gateway.',
    'Web search is not available on Bedrock through this gateway.',
  ],
  [
    'function_call',
    { function_call: 'auto' },
    "'function_call' is deprecated and not translated for Anthropic models; send 'tools' and 'tool_choice'.",
    "'function_call' is deprecated and not translated for Bedrock; send 'tools' and 'tool_choice'.",
  ],
  [
    'tools.1',
    {
      tools: [
        { type: 'function', function: { name: 'f' } },
        { type: 'custom', custom: { name: 'g' } },
      ],
    },
    "'tools.1': only function tools are translated for Anthropic models.",
    "'tools.1': only function tools are translated for Bedrock.",
  ],
  [
    'max_tokens',
    { reasoning_effort: 'low', max_tokens: 1000 },
    "With 'reasoning_effort', Anthropic needs more than 1024 output tokens (thinking counts within them); raise 'max_tokens'.",
    "With 'reasoning_effort', Claude needs more than 1024 output tokens (thinking counts within them); raise 'max_tokens'.",
  ],
]

describe('the checks both Claude doors share', () => {
  it.each(cases)('should refuse %s at both doors, each in its own name', (param, fields, a, b) => {
    expect(refusal('anthropic', fields)).toEqual(['UNSUPPORTED_BY_PROVIDER', param, a])
    expect(refusal('bedrock', fields)).toEqual(['UNSUPPORTED_BY_PROVIDER', param, b])
  })

  it.each(['anthropic', 'bedrock'] as const)(
    'should answer malformed reasoning and formats as invalid at the %s door',
    (door) => {
      expect(refusal(door, { reasoning_effort: 'max' })).toEqual([
        'INVALID_REQUEST',
        'reasoning_effort',
        "'reasoning_effort' must be one of none, minimal, low, medium, high, xhigh.",
      ])
      expect(refusal(door, { response_format: 'json' })).toEqual([
        'INVALID_REQUEST',
        'response_format',
        "'response_format' must be an object with a type.",
      ])
      expect(refusal(door, { response_format: { type: 'yaml' } })).toEqual([
        'UNSUPPORTED_BY_PROVIDER',
        'response_format',
        "'response_format.type' must be text, json_object or json_schema.",
      ])
      expect(refusal(door, { tools: {} })).toEqual([
        'INVALID_REQUEST',
        'tools',
        "'tools' must be an array.",
      ])
    },
  )

  it.each(['anthropic', 'bedrock'] as const)(
    'should check an assistant turn the same way at the %s door',
    (door) => {
      const turn = (assistant: Body) => ({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', ...assistant },
        ],
      })
      const call = (args: unknown) => ({
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: args } }],
      })
      const needer = door === 'anthropic' ? 'Anthropic' : 'Bedrock'
      expect(refusal(door, turn({ content: [{ type: 'image_url' }] }))).toEqual([
        'INVALID_REQUEST',
        'messages.1.content.0',
        "'messages.1.content.0' must be a text or refusal part.",
      ])
      expect(refusal(door, turn({ content: 7 }))).toEqual([
        'INVALID_REQUEST',
        'messages.1.content',
        "'messages.1.content' must be a string, an array of parts or null.",
      ])
      expect(refusal(door, turn({ tool_calls: [{ type: 'function' }] }))).toEqual([
        'INVALID_REQUEST',
        'messages.1.tool_calls.0',
        "'messages.1.tool_calls.0' must be a function tool call with an id.",
      ])
      expect(refusal(door, turn(call('[1, 2]')))).toEqual([
        'INVALID_REQUEST',
        'messages.1.tool_calls.0.function.arguments',
        `'messages.1.tool_calls.0.function.arguments' (message 1) must be a JSON object: ` +
          `${needer} needs the tool input as an object.`,
      ])
      expect(refusal(door, turn(call(42)))).toEqual([
        'INVALID_REQUEST',
        'messages.1.tool_calls.0.function.arguments',
        "'messages.1.tool_calls.0.function.arguments' must be a string.",
      ])
    },
  )

  it('should carry an assistant turn of text parts and a tool call to both doors', () => {
    const fields = {
      messages: [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking' },
            { type: 'refusal', refusal: '' },
          ],
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'w', arguments: '{"city":"Oslo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'Sunny' },
      ],
      tools: [{ type: 'function', function: { name: 'w' } }],
    }
    expect(doors.anthropic(fields).body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Looking' },
        { type: 'tool_use', id: 'c1', name: 'w', input: { city: 'Oslo' } },
      ],
    })
    expect(doors.bedrock(fields).body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { text: 'Looking' },
        { toolUse: { toolUseId: 'c1', name: 'w', input: { city: 'Oslo' } } },
      ],
    })
  })

  it('should fit the thinking budget to half the output limit at both doors', () => {
    const fields = { reasoning_effort: 'high', max_completion_tokens: 6000 }
    expect(doors.anthropic(fields).body.thinking).toEqual({ type: 'enabled', budget_tokens: 3000 })
    expect(doors.bedrock(fields).body.additionalModelRequestFields).toEqual({
      thinking: { type: 'enabled', budget_tokens: 3000 },
    })
  })

  it('should show reasoning at both doors exactly when an effort other than none was asked', () => {
    for (const [effort, shown] of [
      ['low', true],
      ['high', true],
      ['none', false],
      [undefined, false],
    ] as const) {
      const body = { model: 'm', messages: [], reasoning_effort: effort }
      expect(anthropicPlan(body).showReasoning).toBe(shown)
      expect(bedrockPlan(body).showReasoning).toBe(shown)
    }
  })
})
