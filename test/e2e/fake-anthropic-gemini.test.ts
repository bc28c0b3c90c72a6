/**
 * @module Self-tests of the Anthropic and Gemini fakes (`test/support/fakes/`): every validation
 * rule rejects a bad request and accepts a good one, the recorded real requests pass and the
 * recorded real responses fit the schemas the fakes judge by, replayed streams parse (also with the
 * official SDKs), cut streams really cut, and errors have each provider's shape.
 */
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import Anthropic from '@anthropic-ai/sdk'
import { GoogleGenAI } from '@google/genai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProviders } from '../support/fake-providers.ts'
import type { FakeProviders, RecordedRequest } from '../support/fake-providers.ts'
import {
  accumulateAnthropic,
  anthropicRequestViolations,
  anthropicScenario,
  anthropicScenarioNames,
  parseAnthropicSse,
  validateAnthropicResponse,
} from '../support/fakes/anthropic.ts'
import {
  geminiRequestViolations,
  geminiScenarioChunks,
  geminiScenarioNames,
  geminiShapeViolations,
  mergeGeminiChunks,
  parseGeminiSse,
} from '../support/fakes/gemini.ts'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const FIXTURES = new URL('../fixtures/', import.meta.url)
const readFixtureJson = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8'))

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Property access for test assertions on parsed JSON. */
const at = (value: unknown, ...path: Array<string | number>): unknown => {
  let current = value
  for (const key of path) {
    if (Array.isArray(current) && typeof key === 'number') current = current[key]
    else if (isObject(current) && typeof key === 'string') current = current[key]
    else return undefined
  }
  return current
}

let fake: FakeProviders

beforeAll(async () => {
  fake = await startFakeProviders()
})

afterAll(async () => {
  await fake.close()
})

const send = async (
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> => {
  const res = await fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

const recordedWithTag = async (tag: string): Promise<RecordedRequest[]> => {
  const res = await fetch(`${fake.url}/__fake/requests?tag=${encodeURIComponent(tag)}`)
  return (await res.json()) as RecordedRequest[]
}

/** What a raw HTTP client sees of a response: how it ended and the bytes that came before. */
const rawExchange = (path: string, body: unknown, headers: Record<string, string>) =>
  new Promise<{ outcome: 'end' | 'error'; text: string }>((resolve, reject) => {
    const req = request(
      `${fake.url}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (part: string) => {
          text += part
        })
        res.on('end', () => {
          resolve({ outcome: 'end', text })
        })
        res.on('error', () => {
          resolve({ outcome: 'error', text })
        })
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })

// ================================================================================================
// Anthropic
// ================================================================================================

const MESSAGES = '/anthropic/v1/messages'
const ANTHROPIC_HEADERS = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' }
const USER = { role: 'user', content: 'What is the weather in Paris?' }
const WEATHER_TOOL = {
  name: 'lookup_weather',
  description: 'Weather by city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}
const BASE: JsonObject = { model: 'claude-haiku-4-5', max_tokens: 1024, messages: [USER] }

const with_ = (extra: JsonObject): JsonObject => ({ ...BASE, ...extra })
const without = (key: string): JsonObject =>
  Object.fromEntries(Object.entries(BASE).filter(([name]) => name !== key))

const toolTurns = (result: Json): JsonObject[] => [
  USER,
  {
    role: 'assistant',
    content: [{ type: 'tool_use', id: 'toolu_01A', name: 'lookup_weather', input: { city: 'P' } }],
  },
  { role: 'user', content: [result] },
]

const PNG_1PX =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII='

type RuleCase = { rule: string; good: JsonObject; bad: JsonObject; says: string }

const ANTHROPIC_RULES: RuleCase[] = [
  { rule: 'model is required', good: BASE, bad: without('model'), says: 'model: Field required' },
  {
    rule: 'max_tokens is required',
    good: BASE,
    bad: without('max_tokens'),
    says: 'max_tokens: Field required',
  },
  {
    rule: 'max_tokens is at least 1',
    good: with_({ max_tokens: 1 }),
    bad: with_({ max_tokens: 0 }),
    says: 'max_tokens: Input should be greater than or equal to 1',
  },
  {
    rule: 'max_tokens is an integer',
    good: with_({ max_tokens: 2 }),
    bad: with_({ max_tokens: 1.5 }),
    says: 'max_tokens: Input should be a valid integer',
  },
  {
    rule: 'messages is required',
    good: BASE,
    bad: without('messages'),
    says: 'messages: Field required',
  },
  {
    rule: 'messages is not empty',
    good: BASE,
    bad: with_({ messages: [] }),
    says: 'messages: at least one message is required',
  },
  {
    rule: 'roles are user or assistant',
    good: with_({ messages: [USER, { role: 'assistant', content: 'Sunny.' }] }),
    bad: with_({ messages: [{ role: 'system', content: 'Be brief.' }] }),
    says: "messages.0.role: Input should be 'user' or 'assistant'",
  },
  {
    rule: 'the first message is from the user',
    good: with_({ messages: [USER, { role: 'assistant', content: 'Hi' }] }),
    bad: with_({ messages: [{ role: 'assistant', content: 'Hi' }, USER] }),
    says: 'messages: first message must use the "user" role',
  },
  {
    rule: 'roles alternate',
    good: with_({ messages: [USER, { role: 'assistant', content: 'Hi' }, USER] }),
    bad: with_({ messages: [USER, USER] }),
    says: 'roles must alternate between "user" and "assistant"',
  },
  {
    rule: 'content is not empty (except a final assistant prefill)',
    good: with_({ messages: [USER, { role: 'assistant', content: '' }] }),
    bad: with_({ messages: [{ role: 'user', content: '' }] }),
    says: 'messages.0: all messages must have non-empty content',
  },
  {
    rule: 'messages take no unknown fields',
    good: BASE,
    bad: with_({ messages: [{ ...USER, name: 'bob' }] }),
    says: 'messages.0.name: Extra inputs are not permitted',
  },
  {
    rule: 'block types are known',
    good: with_({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] }),
    bad: with_({ messages: [{ role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }] }),
    says: "messages.0.content.0: Input tag 'input_text' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'",
  },
  {
    rule: 'text blocks are not empty',
    good: with_({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }),
    bad: with_({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }),
    says: 'messages.0.content.0.text.text: String should have at least 1 character',
  },
  {
    rule: 'text blocks take cache_control with a known ttl',
    good: with_({
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '1h' } }],
        },
      ],
    }),
    bad: with_({
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '2h' } }],
        },
      ],
    }),
    says: "messages.0.content.0.text.cache_control.ttl: Input should be '5m' or '1h'",
  },
  {
    rule: 'image sources are base64 (with a known media type) or url',
    good: with_({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1PX } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'text', text: 'What is this?' },
          ],
        },
      ],
    }),
    bad: with_({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: PNG_1PX } },
            { type: 'image', source: { type: 'data_url', url: 'data:image/png;base64,xx' } },
          ],
        },
      ],
    }),
    says: "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
  },
  {
    rule: 'image source types are known',
    good: with_({
      messages: [
        {
          role: 'user',
          content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }],
        },
      ],
    }),
    bad: with_({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'data_url', url: 'data:image/png;base64,xx' } },
          ],
        },
      ],
    }),
    says: "messages.0.content.0.image.source: Input tag 'data_url' found using 'type'",
  },
  {
    rule: 'documents have a known source',
    good: with_({
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' },
            },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'hi' } },
            { type: 'text', text: 'Summarise' },
          ],
        },
      ],
    }),
    bad: with_({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'text/csv', data: 'YQ==' } },
          ],
        },
      ],
    }),
    says: "messages.0.content.0.document.source.base64.media_type: Input should be 'application/pdf'",
  },
  {
    rule: 'tool_result answers a tool_use of the previous assistant turn',
    good: with_({
      messages: toolTurns({ type: 'tool_result', tool_use_id: 'toolu_01A', content: 'Sunny' }),
    }),
    bad: with_({
      messages: toolTurns({ type: 'tool_result', tool_use_id: 'toolu_01B', content: 'Sunny' }),
    }),
    says: 'messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01B. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
  },
  {
    rule: 'a tool_use is answered in the next user turn',
    good: with_({
      messages: toolTurns({ type: 'tool_result', tool_use_id: 'toolu_01A', content: 'Sunny' }),
    }),
    bad: with_({ messages: toolTurns({ type: 'text', text: 'never mind' }) }),
    says: 'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A.',
  },
  {
    rule: 'tool_result content holds text, image or document blocks',
    good: with_({
      messages: toolTurns({
        type: 'tool_result',
        tool_use_id: 'toolu_01A',
        content: [{ type: 'text', text: 'Sunny' }],
        is_error: false,
      }),
    }),
    bad: with_({
      messages: toolTurns({
        type: 'tool_result',
        tool_use_id: 'toolu_01A',
        content: [{ type: 'tool_use', id: 'x', name: 'y', input: {} }],
      }),
    }),
    says: "messages.2.content.0.tool_result.content.0: Input tag 'tool_use' found using 'type'",
  },
  {
    rule: 'tool_use blocks have an id, a name and an object input',
    good: with_({ messages: toolTurns({ type: 'tool_result', tool_use_id: 'toolu_01A' }) }),
    bad: with_({
      messages: [
        USER,
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01A', name: 'f' }] },
      ],
    }),
    says: 'messages.1.content.0.tool_use.input: Field required',
  },
  {
    rule: 'thinking blocks carry their signature',
    good: with_({
      messages: [
        USER,
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Hmm.', signature: 'c2ln' },
            { type: 'redacted_thinking', data: 'ZW5j' },
            { type: 'text', text: 'Sunny.' },
          ],
        },
        USER,
      ],
    }),
    bad: with_({
      messages: [
        USER,
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'Hmm.' }] },
        USER,
      ],
    }),
    says: 'messages.1.content.0.thinking.signature: Field required',
  },
  {
    rule: 'system is a string or text blocks',
    good: with_({ system: [{ type: 'text', text: 'Be brief.' }] }),
    bad: with_({
      system: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }],
    }),
    says: "system.0: Input tag 'image' found using 'type' does not match any of the expected tags: 'text'",
  },
  {
    rule: 'tools have a name and an input_schema',
    good: with_({ tools: [{ name: 'f', input_schema: { type: 'object' } }] }),
    bad: with_({ tools: [{ name: 'f', description: 'd' }] }),
    says: 'tools.0.input_schema: Field required',
  },
  {
    rule: 'tool names match the API pattern',
    good: with_({ tools: [WEATHER_TOOL] }),
    bad: with_({ tools: [{ ...WEATHER_TOOL, name: 'lookup weather' }] }),
    says: "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
  },
  {
    rule: 'tools take no OpenAI-style wrapper',
    good: with_({ tools: [WEATHER_TOOL] }),
    bad: with_({ tools: [{ type: 'function', function: WEATHER_TOOL }] }),
    says: "tools.0.type: Input should be 'custom' or None",
  },
  {
    rule: 'tool names are unique',
    good: with_({ tools: [WEATHER_TOOL, { ...WEATHER_TOOL, name: 'other' }] }),
    bad: with_({ tools: [WEATHER_TOOL, WEATHER_TOOL] }),
    says: 'tools: Tool names must be unique (lookup_weather).',
  },
  {
    rule: 'tool_choice types are auto, any, tool and none',
    good: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'any' } }),
    bad: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'required' } }),
    says: "tool_choice: Input tag 'required' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
  },
  {
    rule: 'tool_choice none is accepted',
    good: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'none' } }),
    bad: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'none', name: 'x' } }),
    says: 'tool_choice.none.name: Extra inputs are not permitted',
  },
  {
    rule: 'a tool choice names a tool',
    good: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'lookup_weather' } }),
    bad: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'tool' } }),
    says: 'tool_choice.tool.name: Field required',
  },
  {
    rule: 'a tool choice names a declared tool',
    good: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'lookup_weather' } }),
    bad: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'lookup_stock' } }),
    says: "tool_choice.tool.name: Tool 'lookup_stock' not found in 'tools'.",
  },
  {
    rule: 'tool_choice needs tools',
    good: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'auto' } }),
    bad: with_({ tool_choice: { type: 'auto' } }),
    says: 'tool_choice may only be specified while providing tools',
  },
  {
    rule: 'tool_choice takes disable_parallel_tool_use, not other fields',
    good: with_({
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    }),
    bad: with_({ tools: [WEATHER_TOOL], tool_choice: { type: 'auto', parallel: false } }),
    says: 'tool_choice.auto.parallel: Extra inputs are not permitted',
  },
  {
    rule: 'temperature is within 0..1',
    good: with_({ temperature: 0.5 }),
    bad: with_({ temperature: 1.5 }),
    says: 'temperature: Input should be less than or equal to 1',
  },
  {
    rule: 'top_p is within 0..1',
    good: with_({ top_p: 0.9 }),
    bad: with_({ top_p: 1.2 }),
    says: 'top_p: Input should be less than or equal to 1',
  },
  {
    rule: 'top_k is a non-negative integer',
    good: with_({ top_k: 5 }),
    bad: with_({ top_k: -1 }),
    says: 'top_k: Input should be greater than or equal to 0',
  },
  {
    rule: 'stop_sequences is a list of strings',
    good: with_({ stop_sequences: ['END'] }),
    bad: with_({ stop_sequences: 'END' }),
    says: 'stop_sequences: Input should be a valid list',
  },
  {
    rule: 'stream is a boolean',
    good: with_({ stream: false }),
    bad: with_({ stream: 'yes' }),
    says: 'stream: Input should be a valid boolean',
  },
  {
    rule: 'metadata holds only user_id',
    good: with_({ metadata: { user_id: 'u-1' } }),
    bad: with_({ metadata: { user: 'u-1' } }),
    says: 'metadata.user: Extra inputs are not permitted',
  },
  {
    rule: 'thinking budget is at least 1024',
    good: with_({ max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } }),
    bad: with_({ max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1000 } }),
    says: 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024',
  },
  {
    rule: 'thinking budget is below max_tokens',
    good: with_({ max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } }),
    bad: with_({ max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 2048 } }),
    says: '`max_tokens` must be greater than `thinking.budget_tokens`',
  },
  {
    rule: 'thinking allows only temperature 1',
    good: with_({
      max_tokens: 4096,
      temperature: 1,
      thinking: { type: 'enabled', budget_tokens: 2048 },
    }),
    bad: with_({
      max_tokens: 4096,
      temperature: 0.2,
      thinking: { type: 'enabled', budget_tokens: 2048 },
    }),
    says: '`temperature` may only be set to 1 when thinking is enabled.',
  },
  {
    rule: 'thinking types are enabled, disabled and adaptive',
    good: with_({ thinking: { type: 'disabled' } }),
    bad: with_({ thinking: { type: 'on' } }),
    says: "thinking: Input tag 'on' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'",
  },
  {
    rule: 'unknown top-level fields are rejected, current ones accepted',
    good: with_({ service_tier: 'auto', output_config: { effort: 'low' } }),
    bad: with_({ stream_options: { include_usage: true }, n: 1 }),
    says: 'stream_options: Extra inputs are not permitted',
  },
]

describe('anthropic fake: request validation', () => {
  it.each(ANTHROPIC_RULES)('$rule', ({ good, bad, says }) => {
    expect(anthropicRequestViolations(good)).toEqual([])
    expect(anthropicRequestViolations(bad)).toContainEqual(expect.stringContaining(says))
  })

  it('should accept every recorded live request the API accepted, and reject the one it did not', () => {
    const files = [
      'recorded_tool_use_roundtrip_a8ac789b.json',
      'recorded_stream_tool_use_555fb399.json',
      'recorded_429_then_200_d743d628.json',
      'recorded_400_invalid_request_f59a9391.json',
    ]
    const accepted: unknown[] = []
    const rejected: Array<{ body: unknown; message: string }> = []
    for (const file of files) {
      const exchanges = readFixtureJson(`anthropic/sdk-python/${file}`)
      if (!Array.isArray(exchanges)) throw new Error(`${file}: not a list`)
      for (const exchange of exchanges) {
        const body = at(exchange, 'request', 'body')
        if (at(exchange, 'response', 'status_code') === 400) {
          rejected.push({
            body,
            message: String(at(exchange, 'response', 'body', 'error', 'message')),
          })
        } else accepted.push(body)
      }
    }
    expect(accepted).toHaveLength(8)
    for (const body of accepted) expect(anthropicRequestViolations(body)).toEqual([])
    expect(rejected).toHaveLength(1)
    const [{ body, message } = { body: null, message: '' }] = rejected
    // The API merged the two user turns (so its path is messages.0.content.1); the text after it
    // is the same.
    const recordedText = message.replace(/^messages\.\d+\.content\.\d+: /, '')
    expect(anthropicRequestViolations(body)).toContainEqual(expect.stringContaining(recordedText))
  })

  it('should answer violations with a recorded 400 invalid_request_error listing them', async () => {
    const tag = 'anthropic-bad-request'
    const bad = with_({ max_tokens: 0, stream_options: { include_usage: true } })
    const res = await send(MESSAGES, bad, { ...ANTHROPIC_HEADERS, 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    expect(validateAnthropicResponse('ErrorResponse', res.json)).toEqual([])
    expect(at(res.json, 'error', 'type')).toBe('invalid_request_error')
    expect(at(res.json, 'request_id')).toBe(res.headers.get('request-id'))
    expect(res.headers.get('x-should-retry')).toBe('false')
    const [entry] = await recordedWithTag(tag)
    expect(entry?.provider).toBe('anthropic')
    expect(entry?.violations).toEqual([
      'stream_options: Extra inputs are not permitted',
      'max_tokens: Input should be greater than or equal to 1',
    ])
    expect(at(res.json, 'error', 'message')).toBe(entry?.violations.join('; '))
    const good = await send(MESSAGES, BASE, { ...ANTHROPIC_HEADERS, 'x-fake-tag': `${tag}-ok` })
    expect(good.status).toBe(200)
    expect((await recordedWithTag(`${tag}-ok`))[0]?.violations).toEqual([])
  })

  it('should require x-api-key (401) and anthropic-version 2023-06-01 (400)', async () => {
    const noKey = await send(MESSAGES, BASE, { 'anthropic-version': '2023-06-01' })
    expect(noKey.status).toBe(401)
    expect(validateAnthropicResponse('ErrorResponse', noKey.json)).toEqual([])
    expect(at(noKey.json, 'error', 'type')).toBe('authentication_error')
    const emptyKey = await send(MESSAGES, BASE, { ...ANTHROPIC_HEADERS, 'x-api-key': '' })
    expect(emptyKey.status).toBe(401)
    const bearer = await send(MESSAGES, BASE, {
      authorization: 'Bearer sk-ant-test',
      'anthropic-version': '2023-06-01',
    })
    expect(bearer.status).toBe(401)
    // The SDK's own defaults (Bearer auth, anthropic-version 2026-10-21) are not what is asked for.
    const defaults = new Anthropic({ apiKey: 'k', baseURL: `${fake.url}/anthropic`, maxRetries: 0 })
    await expect(
      defaults.messages.create({ model: 'm', max_tokens: 5, messages: [USER as never] }),
    ).rejects.toThrow(/x-api-key header is required/)
    const newer = await send(MESSAGES, BASE, {
      ...ANTHROPIC_HEADERS,
      'anthropic-version': '2026-10-21',
    })
    expect(newer.status).toBe(400)
    const noVersion = await send(MESSAGES, BASE, { 'x-api-key': 'k' })
    expect(noVersion.status).toBe(400)
    expect(at(noVersion.json, 'error', 'message')).toBe('anthropic-version: header is required')
    const oldVersion = await send(MESSAGES, BASE, {
      ...ANTHROPIC_HEADERS,
      'anthropic-version': '2023-01-01',
    })
    expect(oldVersion.status).toBe(400)
    expect((await send(MESSAGES, BASE, ANTHROPIC_HEADERS)).status).toBe(200)
  })

  it('should reject a body that is not JSON', async () => {
    const res = await send(MESSAGES, 'not json', ANTHROPIC_HEADERS)
    expect(res.status).toBe(400)
    expect(validateAnthropicResponse('ErrorResponse', res.json)).toEqual([])
  })
})

const messageEvents = (text: string) => parseAnthropicSse(text)

/**
 * The official SDK, sending what the gateway sends: `x-api-key` and `anthropic-version:
 * 2023-06-01`. (SDK 1.12 itself defaults to `Authorization: Bearer` and version `2026-10-21`,
 * which this fake refuses: see the auth test.)
 */
const anthropicSdk = (): Anthropic =>
  new Anthropic({
    apiKey: null,
    authToken: null,
    baseURL: `${fake.url}/anthropic`,
    maxRetries: 0,
    defaultHeaders: ANTHROPIC_HEADERS,
  })

const textOf = (events: ReturnType<typeof parseAnthropicSse>): string =>
  events
    .map((event) => at(event.data, 'delta', 'text'))
    .filter((text) => typeof text === 'string')
    .join('')

describe('anthropic fake: answers', () => {
  it('should validate the recorded responses against the (patched) mirror schemas', () => {
    const messages = [
      at(
        readFixtureJson('anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json'),
        0,
        'response',
        'body',
      ),
      at(
        readFixtureJson('anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json'),
        1,
        'response',
        'body',
      ),
      at(
        readFixtureJson('anthropic/sdk-python/recorded_429_then_200_d743d628.json'),
        2,
        'response',
        'body',
      ),
    ]
    for (const message of messages)
      expect(validateAnthropicResponse('Message', message)).toEqual([])
    for (const name of anthropicScenarioNames()) {
      for (const event of anthropicScenario(name)) {
        expect(event.event).toBe(event.data['type'])
        expect(validateAnthropicResponse(event.event, event.data)).toEqual([])
      }
    }
    const errors = [
      at(
        readFixtureJson('anthropic/sdk-python/recorded_400_invalid_request_f59a9391.json'),
        1,
        'response',
        'body',
      ),
      at(
        readFixtureJson('anthropic/sdk-python/recorded_429_then_200_d743d628.json'),
        0,
        'response',
        'body',
      ),
    ]
    for (const error of errors)
      expect(validateAnthropicResponse('ErrorResponse', error)).toEqual([])
    // The patched schemas still reject what the API never sends.
    expect(
      validateAnthropicResponse('Message', { ...(messages[0] as JsonObject), stop_reason: 'done' }),
    ).not.toEqual([])
  })

  it.each(anthropicScenarioNames())(
    'should replay the %s stream as valid events with the request model and tool',
    async (name) => {
      const res = await send(
        MESSAGES,
        with_({ model: 'claude-test-model', tools: [WEATHER_TOOL], stream: true }),
        { ...ANTHROPIC_HEADERS, 'x-fake-fixture': name },
      )
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(res.text).not.toContain('[DONE]')
      const events = messageEvents(res.text)
      const recorded = anthropicScenario(name)
      expect(events.map((event) => event.event)).toEqual(recorded.map((event) => event.event))
      for (const event of events) {
        expect(validateAnthropicResponse(event.event, event.data)).toEqual([])
      }
      expect(events[0]?.event).toBe('message_start')
      expect(events.at(-1)?.event).toBe('message_stop')
      expect(at(events[0]?.data, 'message', 'model')).toBe('claude-test-model')
      expect(at(events[0]?.data, 'message', 'id')).toMatch(/^msg_01[A-Za-z0-9]{22}$/)
      expect(textOf(events)).toBe(textOf(recorded))
      const toolStarts = events.filter(
        (event) => at(event.data, 'content_block', 'type') === 'tool_use',
      )
      for (const start of toolStarts) {
        expect(at(start.data, 'content_block', 'name')).toBe('lookup_weather')
        expect(at(start.data, 'content_block', 'id')).toMatch(/^toolu_01/)
      }
    },
  )

  it('should keep the live recordings’ padded data lines byte for byte', async () => {
    const res = await send(MESSAGES, with_({ stream: true }), ANTHROPIC_HEADERS)
    expect(res.text).toContain(
      'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" currently"}   }\n',
    )
  })

  it('should call the first tool with the recorded input, and answer in text after its result', async () => {
    const tools = [WEATHER_TOOL, { ...WEATHER_TOOL, name: 'lookup_stock' }]
    const call = await send(MESSAGES, with_({ tools }), ANTHROPIC_HEADERS)
    expect(validateAnthropicResponse('Message', call.json)).toEqual([])
    expect(at(call.json, 'stop_reason')).toBe('tool_use')
    expect(at(call.json, 'content', 0, 'name')).toBe('lookup_weather')
    expect(at(call.json, 'content', 0, 'input')).toEqual({
      location: 'San Francisco, CA',
      units: 'f',
    })
    const id = String(at(call.json, 'content', 0, 'id'))
    const chosen = await send(
      MESSAGES,
      with_({ tools, tool_choice: { type: 'tool', name: 'lookup_stock' } }),
      ANTHROPIC_HEADERS,
    )
    expect(at(chosen.json, 'content', 0, 'name')).toBe('lookup_stock')
    const none = await send(
      MESSAGES,
      with_({ tools, tool_choice: { type: 'none' } }),
      ANTHROPIC_HEADERS,
    )
    expect(at(none.json, 'stop_reason')).toBe('end_turn')
    const answered = await send(
      MESSAGES,
      with_({
        tools,
        messages: [
          USER,
          { role: 'assistant', content: at(call.json, 'content') as Json },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '20°C' }] },
        ],
      }),
      ANTHROPIC_HEADERS,
    )
    expect(answered.status).toBe(200)
    expect(at(answered.json, 'stop_reason')).toBe('end_turn')
    expect(at(answered.json, 'content', 0, 'type')).toBe('text')
  })

  it('should give a non-streamed Message the same content as the stream, with all usage fields', async () => {
    const plain = await send(MESSAGES, with_({ tools: [WEATHER_TOOL] }), ANTHROPIC_HEADERS)
    expect(validateAnthropicResponse('Message', plain.json)).toEqual([])
    const recorded = at(
      readFixtureJson('anthropic/sdk-python/recorded_tool_use_roundtrip_a8ac789b.json'),
      0,
      'response',
      'body',
    )
    expect(Object.keys(plain.json as JsonObject).sort()).toEqual(
      Object.keys(recorded as JsonObject).sort(),
    )
    expect(at(plain.json, 'usage')).toMatchObject({
      input_tokens: 656,
      output_tokens: 74,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    })
    const basic = await send(MESSAGES, BASE, { ...ANTHROPIC_HEADERS, 'x-fake-fixture': 'basic' })
    expect(at(basic.json, 'content')).toEqual([{ type: 'text', text: 'Hello there!' }])
    expect(at(basic.json, 'usage')).toEqual({
      input_tokens: 11,
      output_tokens: 6,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    })
    expect(accumulateAnthropic(anthropicScenario('max_tokens'))).toMatchObject({
      stop_reason: 'max_tokens',
      content: [{ type: 'text' }, { type: 'tool_use', input: {} }],
    })
  })

  it('should put a signed thinking block first when thinking is enabled', async () => {
    const body = with_({ max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } })
    const plain = await send(MESSAGES, body, ANTHROPIC_HEADERS)
    expect(at(plain.json, 'content', 0, 'type')).toBe('thinking')
    expect(at(plain.json, 'content', 0, 'signature')).toEqual(expect.stringMatching(/.{20}/))
    expect(at(plain.json, 'content', 1, 'type')).toBe('text')
    const streamed = messageEvents(
      (await send(MESSAGES, { ...body, stream: true }, ANTHROPIC_HEADERS)).text,
    )
    const starts = streamed.filter((event) => event.event === 'content_block_start')
    expect(starts.map((event) => event.data['index'])).toEqual([0, 1])
    expect(starts.map((event) => at(event.data, 'content_block', 'type'))).toEqual([
      'thinking',
      'text',
    ])
    for (const event of streamed)
      expect(validateAnthropicResponse(event.event, event.data)).toEqual([])
    const plainAgain = await send(MESSAGES, BASE, ANTHROPIC_HEADERS)
    expect(at(plainAgain.json, 'content', 0, 'type')).toBe('text')
  })

  it('should be readable by the official Anthropic SDK, streamed and not', async () => {
    const client = anthropicSdk()
    const params = {
      model: 'claude-haiku-4-5',
      max_tokens: 1024,
      messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
      tools: [{ name: 'lookup_weather', input_schema: { type: 'object' as const } }],
    }
    const message = await client.messages.create(params)
    expect(message.stop_reason).toBe('tool_use')
    const final = await client.messages.stream(params).finalMessage()
    expect(final.content).toEqual([
      expect.objectContaining({
        type: 'tool_use',
        name: 'lookup_weather',
        input: { location: 'San Francisco, CA', units: 'f' },
      }),
    ])
    expect(final.usage.output_tokens).toBe(74)
    const text = await client.messages
      .stream({ ...params, tools: [] as never[] }, { headers: { 'x-fake-fixture': 'text' } })
      .finalText()
    expect(text).toBe(textOf(anthropicScenario('text')))
  })

  it('should cut the stream after x-fake-cut-after events: no message_stop, a broken socket', async () => {
    const body = with_({ stream: true })
    const clean = await rawExchange(MESSAGES, body, ANTHROPIC_HEADERS)
    expect(clean.outcome).toBe('end')
    expect(messageEvents(clean.text).at(-1)?.event).toBe('message_stop')
    const cut = await rawExchange(MESSAGES, body, { ...ANTHROPIC_HEADERS, 'x-fake-cut-after': '3' })
    expect(cut.outcome).toBe('error')
    expect(messageEvents(cut.text).map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
    ])
    const client = anthropicSdk()
    await expect(
      client.messages
        .stream(
          { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
          { headers: { 'x-fake-cut-after': '3' } },
        )
        .finalMessage(),
    ).rejects.toThrow()
  })

  it('should send an overloaded_error event mid-stream on x-fake-error-event', async () => {
    const res = await send(MESSAGES, with_({ stream: true }), {
      ...ANTHROPIC_HEADERS,
      'x-fake-error-event': '1',
    })
    const events = messageEvents(res.text)
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'error',
    ])
    expect(validateAnthropicResponse('error', events[2]?.data)).toEqual([])
    expect(events[2]?.data).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    })
    const client = anthropicSdk()
    await expect(
      client.messages
        .stream(
          { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
          { headers: { 'x-fake-error-event': '1' } },
        )
        .finalMessage(),
    ).rejects.toThrow(/overloaded/i)
  })

  it('should answer x-fake-status in Anthropic’s error shape (529 overloaded, 429 with retry-after)', async () => {
    const overloaded = await send(MESSAGES, BASE, { ...ANTHROPIC_HEADERS, 'x-fake-status': '529' })
    expect(overloaded.status).toBe(529)
    expect(validateAnthropicResponse('ErrorResponse', overloaded.json)).toEqual([])
    expect(at(overloaded.json, 'error', 'type')).toBe('overloaded_error')
    expect(overloaded.headers.get('x-should-retry')).toBe('true')
    const limited = await send(MESSAGES, BASE, {
      ...ANTHROPIC_HEADERS,
      'x-fake-status': '429',
      'x-fake-retry-after': '7',
    })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('7')
    expect(at(limited.json, 'error', 'type')).toBe('rate_limit_error')
    expect(String(at(limited.json, 'error', 'message'))).toContain('rate limit of 20,000,000')
    for (const [status, type] of [
      [400, 'invalid_request_error'],
      [401, 'authentication_error'],
      [403, 'permission_error'],
      [404, 'not_found_error'],
      [500, 'api_error'],
    ] as const) {
      const res = await send(MESSAGES, BASE, {
        ...ANTHROPIC_HEADERS,
        'x-fake-status': String(status),
      })
      expect([res.status, at(res.json, 'error', 'type')]).toEqual([status, type])
    }
  })

  it('should list models and 404 unknown endpoints (recorded as violations)', async () => {
    const list = await fetch(`${fake.url}/anthropic/v1/models`, { headers: ANTHROPIC_HEADERS })
    const body: unknown = await list.json()
    expect(at(body, 'data', 0)).toEqual({
      type: 'model',
      id: expect.stringMatching(/^claude-/) as unknown,
      display_name: expect.any(String) as unknown,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    })
    expect(at(body, 'has_more')).toBe(false)
    const tag = 'anthropic-404'
    const missing = await send('/anthropic/v1/chat/completions', BASE, {
      ...ANTHROPIC_HEADERS,
      'x-fake-tag': tag,
    })
    expect(missing.status).toBe(404)
    expect(at(missing.json, 'error', 'type')).toBe('not_found_error')
    expect((await recordedWithTag(tag))[0]?.violations).toEqual([
      'no such endpoint: POST /v1/chat/completions',
    ])
  })

  it('should apply the shared latency header', async () => {
    const started = Date.now()
    await send(MESSAGES, BASE, { ...ANTHROPIC_HEADERS, 'x-fake-latency-ms': '120' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(110)
  })
})

// ================================================================================================
// Gemini
// ================================================================================================

const GEMINI_HEADERS = { 'x-goog-api-key': 'test-gemini-key' }
const MODEL = 'gemini-2.5-flash'
const GENERATE = `/gemini/v1beta/models/${MODEL}:generateContent`
const STREAM = `/gemini/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`
const ASK = { role: 'user', parts: [{ text: 'What is 100/2?' }] }
const G_BASE: JsonObject = { contents: [ASK] }
const DIVIDE = {
  name: 'customDivide',
  description: 'Custom divide function',
  parametersJsonSchema: {
    type: 'object',
    properties: { numerator: { type: 'number' }, denominator: { type: 'number' } },
  },
}
const g = (extra: JsonObject): JsonObject => ({ ...G_BASE, ...extra })
const withTools = (extra: JsonObject = {}): JsonObject =>
  g({ tools: [{ functionDeclarations: [DIVIDE] }], ...extra })

const callTurn = (name = 'customDivide'): JsonObject => ({
  role: 'model',
  parts: [{ functionCall: { name, args: { numerator: 100, denominator: 2 } } }],
})
const answerTurn = (name = 'customDivide'): JsonObject => ({
  role: 'user',
  parts: [{ functionResponse: { name, response: { output: 50 } } }],
})

type GeminiRule = RuleCase & { method?: 'generateContent' | 'embedContent' | 'batchEmbedContents' }

const EMBED = { content: { parts: [{ text: 'hello' }] } }

const GEMINI_RULES: GeminiRule[] = [
  {
    rule: 'unknown top-level fields are rejected',
    good: g({ generationConfig: { temperature: 0.5 } }),
    bad: g({ temperature: 0.5 }),
    says: 'Invalid JSON payload received. Unknown name "temperature": Cannot find field.',
  },
  {
    rule: 'unknown nested fields are rejected where they are',
    good: g({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    bad: g({ contents: [{ role: 'user', parts: [{ text: 'hi', type: 'text' }] }] }),
    says: `Invalid JSON payload received. Unknown name "type" at 'contents[0].parts[0]': Cannot find field.`,
  },
  {
    rule: 'proto field names are accepted as well as JSON names',
    good: g({ generation_config: { max_output_tokens: 10 } }),
    bad: g({ generation_config: { max_tokens: 10 } }),
    says: `Unknown name "max_tokens" at 'generation_config': Cannot find field.`,
  },
  {
    rule: 'contents is required',
    good: G_BASE,
    bad: { systemInstruction: { parts: [{ text: 'Be brief' }] } },
    says: '* GenerateContentRequest.contents: contents is not specified',
  },
  {
    rule: 'contents is a list of Content',
    good: G_BASE,
    bad: { contents: 'hello' },
    says: `Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), "hello"`,
  },
  {
    rule: 'roles are user and model',
    good: g({ contents: [ASK, { role: 'model', parts: [{ text: '50' }] }, ASK] }),
    bad: g({ contents: [ASK, { role: 'assistant', parts: [{ text: '50' }] }, ASK] }),
    says: 'Please use a valid role: user, model.',
  },
  {
    rule: 'parts are not empty',
    good: G_BASE,
    bad: g({ contents: [{ role: 'user', parts: [] }] }),
    says: '* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.',
  },
  {
    rule: 'a part carries data',
    good: g({ contents: [{ role: 'user', parts: [{ text: 'hi', thought: false }] }] }),
    bad: g({ contents: [{ role: 'user', parts: [{ thought: true }] }] }),
    says: "contents[0].parts[0].data: required oneof field 'data' must have one initialized field",
  },
  {
    rule: 'a part carries one kind of data',
    good: g({
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'what is this' },
            { inlineData: { mimeType: 'image/png', data: PNG_1PX } },
          ],
        },
      ],
    }),
    bad: g({
      contents: [
        {
          role: 'user',
          parts: [{ text: 'what', inlineData: { mimeType: 'image/png', data: PNG_1PX } }],
        },
      ],
    }),
    says: "Oneof field 'data' is already set. Cannot set 'inlineData'",
  },
  {
    rule: 'inline data is base64 bytes',
    good: g({
      contents: [
        { role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: PNG_1PX } }] },
      ],
    }),
    bad: g({
      contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: '%%%' } }] }],
    }),
    says: `Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), "%%%"`,
  },
  {
    rule: 'file data needs a fileUri',
    good: g({
      contents: [
        {
          role: 'user',
          parts: [{ fileData: { mimeType: 'application/pdf', fileUri: 'https://x/files/a' } }],
        },
      ],
    }),
    bad: g({
      contents: [{ role: 'user', parts: [{ fileData: { mimeType: 'application/pdf' } }] }],
    }),
    says: '* GenerateContentRequest.contents[0].parts[0].file_data.file_uri: file_uri is not specified',
  },
  {
    rule: 'function calls and responses are named; responses carry a response',
    good: withTools({ contents: [ASK, callTurn(), answerTurn()] }),
    bad: withTools({
      contents: [
        ASK,
        callTurn(),
        { role: 'user', parts: [{ functionResponse: { name: 'customDivide' } }] },
      ],
    }),
    says: 'contents[2].parts[0].function_response.response: response is not specified',
  },
  {
    rule: 'function responses answer the previous turn’s calls one for one',
    good: withTools({ contents: [ASK, callTurn(), answerTurn()] }),
    bad: withTools({
      contents: [
        ASK,
        callTurn(),
        { role: 'user', parts: [answerTurn().parts, answerTurn().parts].flat() as Json[] },
      ],
    }),
    says: 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.',
  },
  {
    rule: 'function responses answer the previous turn’s calls by name',
    good: withTools({ contents: [ASK, callTurn(), answerTurn()] }),
    bad: withTools({ contents: [ASK, callTurn(), answerTurn('otherFunction')] }),
    says: `contents[2].parts[0].function_response.name: "otherFunction" answers none of the previous turn's function calls (customDivide)`,
  },
  {
    rule: 'a function call turn follows a user turn',
    good: withTools({ contents: [ASK, callTurn(), answerTurn()] }),
    bad: withTools({
      contents: [ASK, { role: 'model', parts: [{ text: 'Let me see' }] }, callTurn()],
    }),
    says: 'Please ensure that function call turn comes immediately after a user turn or after a function response turn.',
  },
  {
    rule: 'systemInstruction is text only',
    good: g({ systemInstruction: { role: 'user', parts: [{ text: 'Be brief' }] } }),
    bad: g({
      systemInstruction: { parts: [{ inlineData: { mimeType: 'image/png', data: PNG_1PX } }] },
    }),
    says: '* GenerateContentRequest.system_instruction.parts[0]: only text parts are supported',
  },
  {
    rule: 'function declarations are valid names',
    good: withTools(),
    bad: g({ tools: [{ functionDeclarations: [{ ...DIVIDE, name: 'custom divide' }] }] }),
    says: 'tools[0].function_declarations[0].name: [FIELD_INVALID] Invalid function name.',
  },
  {
    rule: 'function declarations need a name',
    good: withTools(),
    bad: g({ tools: [{ functionDeclarations: [{ description: 'd' }] }] }),
    says: '* GenerateContentRequest.tools[0].function_declarations[0].name: name is not specified',
  },
  {
    rule: 'parameters and parametersJsonSchema are exclusive',
    good: g({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'customDivide',
              parameters: {
                type: 'OBJECT',
                properties: { numerator: { type: 'NUMBER' } },
                required: ['numerator'],
              },
            },
          ],
        },
      ],
    }),
    bad: g({
      tools: [{ functionDeclarations: [{ ...DIVIDE, parameters: { type: 'OBJECT' } }] }],
    }),
    says: 'parameters and parameters_json_schema are mutually exclusive',
  },
  {
    rule: 'parameters is the OpenAPI subset (no JSON Schema keywords)',
    good: g({
      tools: [
        {
          functionDeclarations: [
            { name: 'f', parameters: { type: 'OBJECT', properties: { a: { type: 'STRING' } } } },
          ],
        },
      ],
    }),
    bad: g({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'f',
              parameters: {
                type: 'OBJECT',
                properties: { a: { type: 'STRING' } },
                additionalProperties: false,
              },
            },
          ],
        },
      ],
    }),
    says: `Unknown name "additionalProperties" at 'tools[0].function_declarations[0].parameters': Cannot find field.`,
  },
  {
    rule: 'parameters types are the proto enum (upper case)',
    good: g({ tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'OBJECT' } }] }] }),
    bad: g({ tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object' } }] }] }),
    says: `Invalid value at 'tools[0].function_declarations[0].parameters.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "object"`,
  },
  {
    rule: 'parameters.required names defined properties',
    good: g({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'f',
              parameters: {
                type: 'OBJECT',
                properties: { a: { type: 'STRING' } },
                required: ['a'],
              },
            },
          ],
        },
      ],
    }),
    bad: g({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'f',
              parameters: {
                type: 'OBJECT',
                properties: { a: { type: 'STRING' } },
                required: ['b'],
              },
            },
          ],
        },
      ],
    }),
    says: '* GenerateContentRequest.tools[0].function_declarations[0].parameters.required[0]: property is not defined',
  },
  {
    rule: 'function calling modes are the proto enum',
    good: withTools({ toolConfig: { functionCallingConfig: { mode: 'ANY' } } }),
    bad: withTools({ toolConfig: { functionCallingConfig: { mode: 'REQUIRED' } } }),
    says: `Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "REQUIRED"`,
  },
  {
    rule: 'a function calling config needs function declarations',
    good: withTools({ toolConfig: { functionCallingConfig: { mode: 'NONE' } } }),
    bad: g({ toolConfig: { functionCallingConfig: { mode: 'NONE' } } }),
    says: 'Function calling config is set without function_declarations.',
  },
  {
    rule: 'allowed function names come with ANY and are declared',
    good: withTools({
      toolConfig: {
        functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['customDivide'] },
      },
    }),
    bad: withTools({
      toolConfig: { functionCallingConfig: { mode: 'AUTO', allowedFunctionNames: ['nope'] } },
    }),
    says: 'allowed_function_names may only be set when the mode is ANY or VALIDATED',
  },
  {
    rule: 'generationConfig values have the proto types',
    good: g({ generationConfig: { maxOutputTokens: '64', topK: 40, seed: 7 } }),
    bad: g({ generationConfig: { maxOutputTokens: 'many' } }),
    says: `Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), "many"`,
  },
  {
    rule: 'temperature is within 0..2',
    good: g({ generationConfig: { temperature: 1.5 } }),
    bad: g({ generationConfig: { temperature: 2.5 } }),
    says: 'generation_config.temperature: temperature must be in the range [0.0, 2.0]',
  },
  {
    rule: 'at most 5 stop sequences',
    good: g({ generationConfig: { stopSequences: ['a', 'b', 'c', 'd', 'e'] } }),
    bad: g({ generationConfig: { stopSequences: ['a', 'b', 'c', 'd', 'e', 'f'] } }),
    says: 'generation_config.stop_sequences: at most 5 stop sequences are allowed',
  },
  {
    rule: 'a response schema needs a JSON mime type',
    good: g({
      generationConfig: {
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object' },
      },
    }),
    bad: g({ generationConfig: { responseJsonSchema: { type: 'object' } } }),
    says: 'generation_config.response_mime_type: a compatible response_mime_type',
  },
  {
    rule: 'thinkingConfig takes includeThoughts, thinkingBudget and thinkingLevel',
    good: g({
      generationConfig: {
        thinkingConfig: { includeThoughts: true, thinkingBudget: 1024, thinkingLevel: 'HIGH' },
      },
    }),
    bad: g({ generationConfig: { thinkingConfig: { thinkingLevel: 'EXTREME' } } }),
    says: `Invalid value at 'generation_config.thinking_config.thinking_level'`,
  },
  {
    rule: 'safety settings are known and one per category',
    good: g({
      safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' }],
    }),
    bad: g({
      safetySettings: [
        { category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' },
        { category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' },
      ],
    }),
    says: 'more than one setting for category HARM_CATEGORY_HARASSMENT',
  },
  {
    rule: 'safety thresholds are the proto enum',
    good: g({ safetySettings: [{ category: 'HARM_CATEGORY_HATE_SPEECH', threshold: 'OFF' }] }),
    bad: g({ safetySettings: [{ category: 'HARM_CATEGORY_HATE_SPEECH', threshold: 'LOW' }] }),
    says: `Invalid value at 'safety_settings[0].threshold'`,
  },
  {
    rule: 'embedContent needs content',
    method: 'embedContent',
    good: { ...EMBED, outputDimensionality: 8, taskType: 'RETRIEVAL_QUERY' },
    bad: { outputDimensionality: 8 },
    says: '* EmbedContentRequest.content: content is not specified',
  },
  {
    rule: 'embedContent takes no unknown fields',
    method: 'embedContent',
    good: EMBED,
    bad: { ...EMBED, dimensions: 8 },
    says: 'Invalid JSON payload received. Unknown name "dimensions": Cannot find field.',
  },
  {
    rule: 'batch requests name the batch model',
    method: 'batchEmbedContents',
    good: { requests: [{ model: `models/${MODEL}`, ...EMBED }] },
    bad: { requests: [{ model: 'models/other-model', ...EMBED }] },
    says: `* BatchEmbedContentsRequest.requests[0].model: "models/other-model" does not match the batch's model "models/${MODEL}"`,
  },
  {
    rule: 'batch requests carry their model',
    method: 'batchEmbedContents',
    good: { requests: [{ model: `models/${MODEL}`, ...EMBED }] },
    bad: { requests: [EMBED] },
    says: '* BatchEmbedContentsRequest.requests[0].model: model is not specified',
  },
]

describe('gemini fake: request validation', () => {
  it.each(GEMINI_RULES)('$rule', ({ good, bad, says, method }) => {
    const name = method ?? 'generateContent'
    expect(geminiRequestViolations(name, good, MODEL)).toEqual([])
    expect(geminiRequestViolations(name, bad, MODEL)).toContainEqual(expect.stringContaining(says))
  })

  it('should accept every request body in the js-genai recordings', () => {
    const files = [
      'Chats_Tests_chats_function_calling_Google_AI_with_function_calling_stream.json',
      'Chats_Tests_sendMessage_Send_message_stream_with_error.json',
      'Client_Tests_generateContentStream_ML_Dev_should_stream_generate_content_with_system_instruction.json',
      'Client_Tests_generateContent_ML_Dev_should_generate_content_with_system_instruction.json',
      'Client_Tests_test_thinking_generate_content_should_return_thought_field.json',
      'non-streaming_Tests_generateContent_afc_enabled_Google_AI_AFC_enabled.json',
    ]
    let checked = 0
    for (const file of files) {
      const interactions = at(readFixtureJson(`gemini/js-genai-recordings/${file}`), 'interactions')
      if (!Array.isArray(interactions)) throw new Error(`${file}: no interactions`)
      for (const interaction of interactions) {
        const url = String(at(interaction, 'request', 'url'))
        const match = /models\/([^:]+):(\w+)/.exec(url)
        const method =
          match?.[2] === 'streamGenerateContent' ? 'streamGenerateContent' : 'generateContent'
        const body = at(interaction, 'request', 'bodySegments', 0)
        expect(geminiRequestViolations(method, body, match?.[1] ?? '')).toEqual([])
        checked++
      }
    }
    expect(checked).toBe(8)
  })

  it('should parse every recorded response, knowing no field but the live-only turnToken', () => {
    const chunks = geminiScenarioNames().flatMap((name) =>
      ['model-not-found', 'image-rejected'].includes(name) ? [] : geminiScenarioChunks(name),
    )
    expect(chunks.length).toBeGreaterThan(15)
    for (const chunk of chunks) {
      const problems = geminiShapeViolations('GenerateContentResponse', chunk)
      expect(problems.filter((text) => !text.includes('Unknown name "turnToken"'))).toEqual([])
    }
    for (const file of [
      'unary-success-basic-reply-short.json',
      'unary-failure-finish-reason-safety.json',
      'unary-failure-prompt-blocked-safety.json',
    ]) {
      const body = readFixtureJson(`gemini/generative-ai-js-mock-responses/${file}`)
      expect(geminiShapeViolations('GenerateContentResponse', body)).toEqual([])
    }
    expect(
      geminiShapeViolations('GenerateContentResponse', { candidates: [{ finishReason: 'DONE' }] }),
    ).toEqual([expect.stringContaining(`Invalid value at 'candidates[0].finish_reason'`)])
  })

  it('should answer violations with 400 INVALID_ARGUMENT, BadRequest details, recorded', async () => {
    const tag = 'gemini-bad-request'
    const bad = g({ temperature: 0.5, generationConfig: { topK: 'many' } })
    const res = await send(GENERATE, bad, { ...GEMINI_HEADERS, 'x-fake-tag': tag })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8')
    expect(at(res.json, 'error', 'code')).toBe(400)
    expect(at(res.json, 'error', 'status')).toBe('INVALID_ARGUMENT')
    const expected = [
      'Invalid JSON payload received. Unknown name "temperature": Cannot find field.',
      `Invalid value at 'generation_config.top_k' (TYPE_INT32), "many"`,
    ]
    expect(at(res.json, 'error', 'message')).toBe(expected.join('\n'))
    expect(at(res.json, 'error', 'details')).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [
          { description: expected[0] },
          { field: 'generation_config.top_k', description: expected[1] },
        ],
      },
    ])
    const [entry] = await recordedWithTag(tag)
    expect(entry?.provider).toBe('gemini')
    expect(entry?.violations).toEqual(expected)
    const stream = await send(STREAM, { contents: [] }, GEMINI_HEADERS)
    expect(stream.status).toBe(400)
    expect(stream.headers.get('content-type')).toBe('text/event-stream')
    expect(at(stream.json, 'error', 'message')).toBe(
      '* GenerateContentRequest.contents: contents is not specified',
    )
  })

  it('should require x-goog-api-key (403 PERMISSION_DENIED)', async () => {
    const res = await send(GENERATE, G_BASE, {})
    expect(res.status).toBe(403)
    expect(at(res.json, 'error', 'status')).toBe('PERMISSION_DENIED')
    expect(at(res.json, 'error', 'code')).toBe(403)
    const inQuery = await send(`${GENERATE}?key=test-gemini-key`, G_BASE, {})
    expect(inQuery.status).toBe(403)
    expect((await send(GENERATE, G_BASE, GEMINI_HEADERS)).status).toBe(200)
  })
})

/** The events of a Gemini SSE body; a trailing bare JSON object (an in-stream error) apart. */
const geminiEvents = (text: string): { chunks: JsonObject[]; bare: unknown[]; crlf: boolean } => {
  const blocks = text.split('\r\n\r\n')
  const tail = blocks.pop() ?? ''
  const bare: unknown[] = tail.trim() === '' ? [] : [JSON.parse(tail) as unknown]
  return { chunks: parseGeminiSse(blocks.join('\r\n\r\n')), bare, crlf: text.includes('\r\n\r\n') }
}

const geminiText = (chunks: unknown[], thought = false): string =>
  chunks
    .flatMap((chunk) => {
      const parts = at(chunk, 'candidates', 0, 'content', 'parts')
      return Array.isArray(parts) ? (parts as unknown[]) : []
    })
    .filter((part) => (at(part, 'thought') === true) === thought)
    .map((part) => at(part, 'text'))
    .filter((text) => typeof text === 'string')
    .join('')

describe('gemini fake: answers', () => {
  it('should stream the recorded text as CRLF-framed data events with cumulative usage', async () => {
    const res = await send(STREAM, G_BASE, GEMINI_HEADERS)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(res.text).not.toContain('[DONE]')
    expect(res.text).not.toContain('event:')
    const { chunks, bare, crlf } = geminiEvents(res.text)
    expect(crlf).toBe(true)
    expect(bare).toEqual([])
    const recorded = geminiScenarioChunks('text')
    expect(chunks).toHaveLength(recorded.length)
    expect(geminiText(chunks)).toBe(geminiText(recorded))
    const counts = chunks.map((chunk) => Number(at(chunk, 'usageMetadata', 'candidatesTokenCount')))
    expect(counts).toEqual([...counts].sort((a, b) => a - b))
    const reasons = chunks.map((chunk) => at(chunk, 'candidates', 0, 'finishReason'))
    expect(reasons.at(-1)).toBe('STOP')
    expect(reasons.slice(0, -1).every((reason) => reason === undefined)).toBe(true)
    const ids = new Set(chunks.map((chunk) => at(chunk, 'responseId')))
    expect(ids.size).toBe(1)
    expect([...ids][0]).not.toBe(at(recorded[0], 'responseId'))
    for (const chunk of chunks) {
      expect(at(chunk, 'modelVersion')).toBe(MODEL)
      expect(
        geminiShapeViolations('GenerateContentResponse', chunk).filter(
          (text) => !text.includes('turnToken'),
        ),
      ).toEqual([])
    }
  })

  it('should merge the same chunks into the non-streamed answer', async () => {
    const res = await send(GENERATE, G_BASE, GEMINI_HEADERS)
    expect(res.headers.get('content-type')).toBe('application/json; charset=UTF-8')
    const recorded = geminiScenarioChunks('text')
    expect(at(res.json, 'candidates', 0, 'content', 'parts')).toEqual([
      { text: geminiText(recorded) },
    ])
    expect(at(res.json, 'usageMetadata')).toEqual(at(recorded.at(-1), 'usageMetadata'))
    expect(at(res.json, 'candidates', 0, 'finishReason')).toBe('STOP')
    expect(mergeGeminiChunks(recorded)).toMatchObject({ usageMetadata: { totalTokenCount: 533 } })
  })

  it('should answer a JSON array to a stream request without alt=sse', async () => {
    const res = await send(
      `/gemini/v1beta/models/${MODEL}:streamGenerateContent`,
      G_BASE,
      GEMINI_HEADERS,
    )
    expect(Array.isArray(res.json)).toBe(true)
    expect(geminiText(res.json as unknown[])).toBe(geminiText(geminiScenarioChunks('text')))
  })

  it('should call the first declared function with a thought signature, and want it back', async () => {
    const tag = 'gemini-signature'
    const call = await send(GENERATE, withTools(), GEMINI_HEADERS)
    const part = at(call.json, 'candidates', 0, 'content', 'parts', 0)
    expect(at(part, 'functionCall')).toEqual({
      name: 'customDivide',
      args: { numerator: 100, denominator: 2 },
    })
    const signature = at(part, 'thoughtSignature')
    expect(signature).toEqual(expect.stringMatching(/^[A-Za-z0-9+/]{40,}={0,2}$/))
    const history = (echo: Json): JsonObject =>
      withTools({ contents: [ASK, { role: 'model', parts: [echo] }, answerTurn()] })
    const echoed = await send(GENERATE, history(part as Json), {
      ...GEMINI_HEADERS,
      'x-fake-tag': tag,
    })
    expect(echoed.status).toBe(200)
    expect(at(echoed.json, 'candidates', 0, 'content', 'parts', 0, 'text')).toEqual(
      expect.any(String),
    )
    const stripped = await send(
      GENERATE,
      history({ functionCall: at(part, 'functionCall') as Json }),
      { ...GEMINI_HEADERS, 'x-fake-tag': tag },
    )
    expect(stripped.status).toBe(400)
    const missing =
      'Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:customDivide` , position 2. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.'
    expect(at(stripped.json, 'error', 'message')).toBe(missing)
    const forged = await send(
      GENERATE,
      history({ functionCall: at(part, 'functionCall') as Json, thoughtSignature: 'Zm9yZ2Vk' }),
      GEMINI_HEADERS,
    )
    expect(forged.status).toBe(400)
    expect(String(at(forged.json, 'error', 'message'))).toContain('Thought signature is not valid')
    const skipped = await send(
      GENERATE,
      history({
        functionCall: at(part, 'functionCall') as Json,
        thoughtSignature: 'skip_thought_signature_validator',
      }),
      GEMINI_HEADERS,
    )
    expect(skipped.status).toBe(200)
    expect((await recordedWithTag(tag)).map((entry) => entry.violations)).toEqual([[], [missing]])
    // A call the fake never made (the recorded 2.0-flash history) needs no signature.
    const unsigned = {
      role: 'model',
      parts: [{ functionCall: { name: 'customDivide', args: { numerator: 10, denominator: 2 } } }],
    }
    const other = withTools({ contents: [ASK, unsigned, answerTurn()] })
    expect((await send(GENERATE, other, GEMINI_HEADERS)).status).toBe(200)
  })

  it('should stream the function call whole in one chunk; honour mode NONE and allowed names', async () => {
    const streamed = geminiEvents((await send(STREAM, withTools(), GEMINI_HEADERS)).text).chunks
    expect(streamed).toHaveLength(1)
    expect(at(streamed[0], 'candidates', 0, 'content', 'parts', 0, 'functionCall', 'name')).toBe(
      'customDivide',
    )
    expect(at(streamed[0], 'candidates', 0, 'finishReason')).toBe('STOP')
    const none = await send(
      GENERATE,
      withTools({ toolConfig: { functionCallingConfig: { mode: 'NONE' } } }),
      GEMINI_HEADERS,
    )
    expect(at(none.json, 'candidates', 0, 'content', 'parts', 0, 'text')).toEqual(
      expect.any(String),
    )
    const two = { functionDeclarations: [DIVIDE, { ...DIVIDE, name: 'otherDivide' }] }
    const allowed = await send(
      GENERATE,
      g({
        tools: [two],
        toolConfig: {
          functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['otherDivide'] },
        },
      }),
      GEMINI_HEADERS,
    )
    expect(at(allowed.json, 'candidates', 0, 'content', 'parts', 0, 'functionCall', 'name')).toBe(
      'otherDivide',
    )
  })

  it('should put the recorded thought first when includeThoughts is set', async () => {
    const body = g({ generationConfig: { thinkingConfig: { includeThoughts: true } } })
    const plain = await send(GENERATE, body, GEMINI_HEADERS)
    expect(at(plain.json, 'candidates', 0, 'content', 'parts', 0, 'thought')).toBe(true)
    expect(at(plain.json, 'candidates', 0, 'content', 'parts', 1, 'text')).toEqual(
      geminiText(geminiScenarioChunks('text')),
    )
    const { chunks } = geminiEvents((await send(STREAM, body, GEMINI_HEADERS)).text)
    expect(geminiText(chunks.slice(0, 1), true)).toEqual(
      geminiText(geminiScenarioChunks('thinking'), true),
    )
    expect(at(chunks[0], 'usageMetadata', 'candidatesTokenCount')).toBeUndefined()
    expect(geminiText(chunks)).toBe(geminiText(geminiScenarioChunks('text')))
    const without = await send(GENERATE, G_BASE, GEMINI_HEADERS)
    expect(at(without.json, 'candidates', 0, 'content', 'parts', 0, 'thought')).toBeUndefined()
  })

  it('should replay safety-blocked and prompt-blocked answers on x-fake-fixture', async () => {
    const headers = { ...GEMINI_HEADERS, 'x-fake-fixture': 'prompt-blocked' }
    const blocked = await send(GENERATE, G_BASE, headers)
    expect(blocked.status).toBe(200)
    expect(at(blocked.json, 'promptFeedback', 'blockReason')).toBe('SAFETY')
    expect(at(blocked.json, 'candidates')).toBeUndefined()
    const blockedStream = geminiEvents((await send(STREAM, G_BASE, headers)).text).chunks
    expect(blockedStream.map((chunk) => at(chunk, 'promptFeedback', 'blockReason'))).toEqual([
      'SAFETY',
    ])
    const safety = { ...GEMINI_HEADERS, 'x-fake-fixture': 'safety-blocked' }
    const stopped = await send(GENERATE, G_BASE, safety)
    expect(at(stopped.json, 'candidates', 0, 'finishReason')).toBe('SAFETY')
    const stoppedStream = geminiEvents((await send(STREAM, G_BASE, safety)).text).chunks
    expect(at(stoppedStream.at(-1), 'candidates', 0, 'finishReason')).toBe('SAFETY')
    const unknown = await send(GENERATE, G_BASE, { ...GEMINI_HEADERS, 'x-fake-fixture': 'nope' })
    expect(unknown.status).toBe(400)
    expect(String(at(unknown.json, 'error', 'message'))).toContain('prompt-blocked')
  })

  it('should answer the recorded 404 for model-not-found, as an event stream on streams', async () => {
    const headers = { ...GEMINI_HEADERS, 'x-fake-fixture': 'model-not-found' }
    const res = await send(STREAM, G_BASE, headers)
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(at(res.json, 'error', 'status')).toBe('NOT_FOUND')
    expect(String(at(res.json, 'error', 'message'))).toContain(`models/${MODEL} is not found`)
    expect(at(res.json, 'error', 'details', 0, '@type')).toBe(
      'type.googleapis.com/google.rpc.DebugInfo',
    )
    const unary = await send(GENERATE, G_BASE, headers)
    expect(unary.headers.get('content-type')).toBe('application/json; charset=UTF-8')
  })

  it('should be readable by the official Google Gen AI SDK', async () => {
    const ai = new GoogleGenAI({
      apiKey: 'test-gemini-key',
      httpOptions: { baseUrl: `${fake.url}/gemini` },
    })
    const answer = await ai.models.generateContent({
      model: MODEL,
      contents: 'Why is the sky blue?',
    })
    expect(answer.text).toBe(geminiText(geminiScenarioChunks('text')))
    let streamed = ''
    for await (const chunk of await ai.models.generateContentStream({
      model: MODEL,
      contents: 'Why?',
    })) {
      streamed += chunk.text ?? ''
    }
    expect(streamed).toBe(answer.text)
    const called = await ai.models.generateContent({
      model: MODEL,
      contents: 'Divide 100 by 2',
      config: {
        tools: [{ functionDeclarations: [{ name: 'customDivide', description: 'divide' }] }],
      },
    })
    expect(called.functionCalls?.[0]?.name).toBe('customDivide')
    const embedded = await ai.models.embedContent({
      model: 'gemini-embedding-001',
      contents: ['first', 'second'],
      config: { outputDimensionality: 16 },
    })
    expect(embedded.embeddings?.map((item) => item.values?.length)).toEqual([16, 16])
    const names: string[] = []
    for await (const model of await ai.models.list({ config: { pageSize: 3 } })) {
      names.push(model.name ?? '')
    }
    expect(names).toHaveLength(4)
    expect(names).toContain('models/gemini-2.5-flash')
  })

  it('should cut the stream after x-fake-cut-after events', async () => {
    const clean = await rawExchange(STREAM, G_BASE, GEMINI_HEADERS)
    expect(clean.outcome).toBe('end')
    const cut = await rawExchange(STREAM, G_BASE, { ...GEMINI_HEADERS, 'x-fake-cut-after': '2' })
    expect(cut.outcome).toBe('error')
    expect(geminiEvents(cut.text).chunks).toHaveLength(2)
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: `${fake.url}/gemini` } })
    await expect(
      (async () => {
        const stream = await ai.models.generateContentStream({
          model: MODEL,
          contents: 'x',
          config: { httpOptions: { headers: { 'x-fake-cut-after': '2' } } },
        })
        for await (const chunk of stream) expect(chunk).toBeDefined()
      })(),
    ).rejects.toThrow()
  })

  it('should end with a bare JSON error object on x-fake-error-event', async () => {
    const res = await send(STREAM, G_BASE, { ...GEMINI_HEADERS, 'x-fake-error-event': '1' })
    expect(res.status).toBe(200)
    const { chunks, bare } = geminiEvents(res.text)
    expect(chunks).toHaveLength(2)
    expect(bare).toEqual([{ error: { code: 500, message: 'Internal error', status: 'INTERNAL' } }])
    expect(res.text.endsWith('}')).toBe(true)
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: `${fake.url}/gemini` } })
    await expect(
      (async () => {
        const stream = await ai.models.generateContentStream({
          model: MODEL,
          contents: 'x',
          config: { httpOptions: { headers: { 'x-fake-error-event': '1' } } },
        })
        for await (const chunk of stream) expect(chunk).toBeDefined()
      })(),
    ).rejects.toThrow()
  })

  it('should answer x-fake-status in the google.rpc.Status shape, with retry-after', async () => {
    const res = await send(GENERATE, G_BASE, {
      ...GEMINI_HEADERS,
      'x-fake-status': '429',
      'x-fake-retry-after': '3',
    })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('3')
    expect(at(res.json, 'error')).toEqual({
      code: 429,
      message: expect.any(String) as unknown,
      status: 'RESOURCE_EXHAUSTED',
    })
    for (const [status, name] of [
      [400, 'INVALID_ARGUMENT'],
      [500, 'INTERNAL'],
      [503, 'UNAVAILABLE'],
      [504, 'DEADLINE_EXCEEDED'],
    ] as const) {
      const reply = await send(STREAM, G_BASE, {
        ...GEMINI_HEADERS,
        'x-fake-status': String(status),
      })
      expect([reply.status, at(reply.json, 'error', 'status')]).toEqual([status, name])
      expect(reply.headers.get('content-type')).toBe('text/event-stream')
    }
  })
})

describe('gemini fake: embeddings and models', () => {
  const embed = (model: string, body: JsonObject) =>
    send(`/gemini/v1beta/models/${model}:embedContent`, body, GEMINI_HEADERS)

  it('should give the same text the same vector, truncated by outputDimensionality', async () => {
    const full = await embed('gemini-embedding-001', EMBED)
    const values = at(full.json, 'embedding', 'values') as number[]
    expect(values).toHaveLength(3072)
    expect(at(full.json, 'usageMetadata')).toBeUndefined()
    expect(Math.hypot(...values)).toBeCloseTo(1, 5)
    const short = await embed('gemini-embedding-001', { ...EMBED, outputDimensionality: 8 })
    expect(at(short.json, 'embedding', 'values')).toEqual(values.slice(0, 8))
    const again = await embed('gemini-embedding-001', { ...EMBED, outputDimensionality: 8 })
    expect(at(again.json, 'embedding')).toEqual(at(short.json, 'embedding'))
    const other = await embed('gemini-embedding-001', {
      content: { parts: [{ text: 'bye' }] },
      outputDimensionality: 8,
    })
    expect(at(other.json, 'embedding', 'values')).not.toEqual(values.slice(0, 8))
    const batch = await send(
      '/gemini/v1beta/models/gemini-embedding-001:batchEmbedContents',
      {
        requests: [
          { model: 'models/gemini-embedding-001', ...EMBED, outputDimensionality: 8 },
          {
            model: 'models/gemini-embedding-001',
            content: { parts: [{ text: 'bye' }] },
            outputDimensionality: 8,
          },
        ],
      },
      GEMINI_HEADERS,
    )
    expect(at(batch.json, 'embeddings')).toEqual([
      { values: values.slice(0, 8) },
      at(other.json, 'embedding'),
    ])
    expect(geminiShapeViolations('BatchEmbedContentsResponse', batch.json)).toEqual([])
    expect(geminiShapeViolations('EmbedContentResponse', full.json)).toEqual([])
  })

  it('should page the model list with pageSize and pageToken', async () => {
    const first = await fetch(`${fake.url}/gemini/v1beta/models?pageSize=3`, {
      headers: GEMINI_HEADERS,
    })
    const page: unknown = await first.json()
    expect(geminiShapeViolations('ListModelsResponse', page)).toEqual([])
    expect((at(page, 'models') as unknown[]).length).toBe(3)
    const token = String(at(page, 'nextPageToken'))
    const second = await fetch(
      `${fake.url}/gemini/v1beta/models?pageSize=3&pageToken=${encodeURIComponent(token)}`,
      { headers: GEMINI_HEADERS },
    )
    const rest: unknown = await second.json()
    expect(at(rest, 'models', 0, 'name')).toBe('models/gemini-embedding-001')
    expect(at(rest, 'nextPageToken')).toBeUndefined()
  })

  it('should 404 unknown endpoints and record the violation', async () => {
    const tag = 'gemini-404'
    const res = await send(`/gemini/v1/models/${MODEL}:generateContent`, G_BASE, {
      ...GEMINI_HEADERS,
      'x-fake-tag': tag,
    })
    expect(res.status).toBe(404)
    expect(at(res.json, 'error', 'status')).toBe('NOT_FOUND')
    expect((await recordedWithTag(tag))[0]?.violations).toEqual([
      `no such endpoint: POST /v1/models/${MODEL}:generateContent`,
    ])
  })
})
