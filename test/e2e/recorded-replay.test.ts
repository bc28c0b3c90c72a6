/**
 * Every recorded Anthropic and Gemini answer (test/fixtures, replayed by the fakes as scenarios),
 * through the production bundle, comes out as OpenAI output that validates against the OpenAI
 * spec — streamed ones chunk by chunk, with OpenAI's ordering: role first, one finish reason per
 * choice, the usage chunk last when asked for, then `[DONE]`.
 */
import { describe, expect, it } from 'vitest'
import { TEST_DEV_API_KEY } from '../support/bindings.ts'
import { useGateway } from '../support/e2e.ts'
import { anthropicScenarioNames } from '../support/fakes/anthropic.ts'
import { geminiScenarioNames } from '../support/fakes/gemini.ts'
import { validateOpenAI } from '../support/openapi.ts'

const e2e = useGateway()

/** Scenarios that are recorded provider errors rather than answers. */
const ERROR_SCENARIOS = new Set(['model-not-found', 'image-rejected'])
/** A recorded stream that stops without a finish reason: it must end in an error event. */
const BROKEN_STREAMS = new Set(['empty-content'])
/** Gemini's 2024 recordings carry no usage, so there is none to show. */
const WITHOUT_USAGE = new Set(['long', 'safety-blocked', 'prompt-blocked', 'empty-content'])

const request = (model: string, scenario: string, extra: Record<string, unknown>) => {
  return fetch(`${e2e().gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TEST_DEV_API_KEY}`,
      'content-type': 'application/json',
      'x-fake-fixture': scenario,
    },
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: 'Hello' }],
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
        },
      ],
      ...extra,
    }),
  })
}

type Chunk = {
  choices: { index: number; delta: { role?: string }; finish_reason: string | null }[]
  usage?: unknown
}

const cases = [
  ...anthropicScenarioNames().map((s) => ['anthropic/claude-haiku-4-5', s] as const),
  ...geminiScenarioNames().map((s) => ['gemini/gemini-2.5-flash', s] as const),
]

describe.each(cases)('%s replaying %s', (model, scenario) => {
  it('should answer a valid OpenAI chat completion (or error)', async () => {
    const res = await request(model, scenario, {})
    const body: unknown = await res.json()
    if (ERROR_SCENARIOS.has(scenario)) {
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(validateOpenAI('ErrorResponse', body)).toEqual([])
      return
    }
    expect(res.status).toBe(200)
    expect(validateOpenAI('CreateChatCompletionResponse', body)).toEqual([])
  })

  it('should stream valid OpenAI chunks in OpenAI order', async () => {
    const res = await request(model, scenario, {
      stream: true,
      stream_options: { include_usage: true },
    })
    if (ERROR_SCENARIOS.has(scenario)) {
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(validateOpenAI('ErrorResponse', await res.json())).toEqual([])
      return
    }
    expect(res.status).toBe(200)
    const blocks = (await res.text()).split('\n\n').filter((block) => block.trim() !== '')
    if (BROKEN_STREAMS.has(scenario)) {
      expect(blocks.at(-1)).toMatch(/^event: error\ndata: /)
      expect(blocks.some((block) => block === 'data: [DONE]')).toBe(false)
      return
    }
    const events = blocks.filter((block) => block.startsWith('data: ')).map((b) => b.slice(6))
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data) as Chunk)
    for (const chunk of chunks) {
      expect(validateOpenAI('CreateChatCompletionStreamResponse', chunk)).toEqual([])
    }
    const withChoices = chunks.filter((c) => c.choices.length > 0)
    for (const index of new Set(withChoices.flatMap((c) => c.choices.map((ch) => ch.index)))) {
      const mine = withChoices.flatMap((c) => c.choices.filter((ch) => ch.index === index))
      expect(mine[0]?.delta.role).toBe('assistant')
      expect(mine.filter((ch) => ch.finish_reason !== null)).toHaveLength(1)
    }
    const usage = chunks.filter((c) => c.usage !== undefined && c.usage !== null)
    expect(usage).toHaveLength(WITHOUT_USAGE.has(scenario) ? 0 : 1)
    if (usage[0] !== undefined) {
      expect(chunks.at(-1)).toBe(usage[0])
      expect(usage[0].choices).toEqual([])
    }
  })
})
