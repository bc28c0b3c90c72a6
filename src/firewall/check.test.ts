/**
 * The firewall's check, with the provider call as a spy: the header and the plan flag that turn it
 * on, what one classification sends (a non-streamed chat call with the operator's key, a small
 * token budget at temperature 0, or room to reason for a reasoning model) and what it reads back
 * (the verdict and the usage) — any answer outside the contract, or a failing call, is an error
 * that never carries the prompt — and the stored verdicts read back strictly.
 */
import { describe, expect, it, vi } from 'vitest'
import type { callProvider } from '../providers/client'
import { firewallBackend, operatorTarget } from '../../test/support/unit'
import { classificationMessages, type Turn } from './classifier'
import {
  FIREWALL_FLAG,
  FIREWALL_HEADER,
  backendName,
  classify,
  firewallOn,
  firewallRequested,
  readStoredVerdict,
  type FirewallBackend,
  type StoredVerdict,
} from './check'

const GUARD_MODEL = 'meta-llama/Llama-Guard-4-12B'
const GUARD = firewallBackend('together', GUARD_MODEL, 'tg-operator-key')
const HAIKU = firewallBackend('anthropic', 'claude-3-5-haiku-latest', 'sk-ant-operator')

const PROMPT = 'Explain how to culture a dangerous pathogen at home'
const TURNS: Turn[] = [{ role: 'User', text: PROMPT }]
const OPTIONS = { requestId: 'req_1', timeoutMs: 1_234 }

/** A provider answer in OpenAI's shape. */
const answer = (body: unknown): Response =>
  new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })

const completion = (content: unknown, usage?: unknown) => ({
  choices: [{ message: { content } }],
  ...(usage === undefined ? {} : { usage }),
})

const USAGE = { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 }

const callAnswering = (response: () => Promise<Response>) =>
  vi.fn<typeof callProvider>(() => response())

/** The body one classification by `[id](model)` sends. */
const bodySentTo = async (id: string, model: string) => {
  const call = callAnswering(() => Promise.resolve(answer(completion('safe'))))
  await classify(call, firewallBackend(id, model, 'operator-key'), TURNS, OPTIONS)
  return call.mock.calls[0]?.[1].body
}

const headersOf = (value: string | undefined): Headers =>
  new Headers(value === undefined ? {} : { [FIREWALL_HEADER]: value })

/** The message `work` rejects with. */
const rejection = async (work: Promise<unknown>): Promise<string> => {
  try {
    await work
  } catch (err) {
    return err instanceof Error ? err.message : 'non-error thrown'
  }
  throw new Error('expected a rejection')
}

describe('firewallRequested', () => {
  it.each([
    ['true', true],
    [' TRUE ', true],
    ['True', true],
    ['false', false],
    ['1', false],
    ['yes', false],
    ['', false],
    [undefined, false],
  ])('should read the header %j as %s', (value, expected) => {
    expect(firewallRequested(headersOf(value))).toBe(expected)
  })
})

describe('firewallOn', () => {
  it('should be on only when the request asks and the plan has the flag', () => {
    expect(firewallOn(headersOf('true'), { [FIREWALL_FLAG]: true })).toBe(true)
  })

  it.each([
    ['the flag is absent', {}],
    ['the flag is false', { [FIREWALL_FLAG]: false }],
    ['the flag is the string "true"', { [FIREWALL_FLAG]: 'true' }],
    ['another flag is set', { has_advanced_cache: true }],
  ])('should be off when %s', (_, features) => {
    expect(firewallOn(headersOf('true'), features)).toBe(false)
  })

  it.each([
    ['the header is absent', undefined],
    ['the header is false', 'false'],
  ])('should be off with the flag when %s', (_, value) => {
    expect(firewallOn(headersOf(value), { [FIREWALL_FLAG]: true })).toBe(false)
  })
})

describe('backendName', () => {
  it('should name a backend as provider/model', () => {
    expect(backendName(GUARD)).toBe(`together/${GUARD_MODEL}`)
    expect(backendName(HAIKU)).toBe('anthropic/claude-3-5-haiku-latest')
  })
})

describe('classify', () => {
  describe('what it sends', () => {
    it('should make one non-streamed chat call with the operator’s key and the time limit', async () => {
      const call = callAnswering(() => Promise.resolve(answer(completion('safe', USAGE))))
      await classify(call, GUARD, TURNS, OPTIONS)
      expect(call).toHaveBeenCalledTimes(1)
      expect(call).toHaveBeenCalledWith(
        GUARD.target,
        {
          kind: 'chat',
          body: {
            model: GUARD_MODEL,
            messages: classificationMessages(GUARD_MODEL, TURNS),
            max_tokens: 32,
            temperature: 0,
          },
          model: GUARD_MODEL,
          stream: false,
          includeUsage: false,
        },
        { requestId: 'req_1', apiKey: 'tg-operator-key', timeoutMs: 1_234 },
      )
    })

    it('should send a non-Llama-Guard backend the written-out prompt, with its own key', async () => {
      const call = callAnswering(() => Promise.resolve(answer(completion('safe'))))
      await classify(call, HAIKU, TURNS, { requestId: 'req_2', timeoutMs: 50 })
      const [target, request, options] = call.mock.calls[0] ?? []
      expect(target).toBe(HAIKU.target)
      expect(request?.body.messages).toEqual(
        classificationMessages('claude-3-5-haiku-latest', TURNS),
      )
      expect(JSON.stringify(request?.body.messages)).toContain('BEGIN CONVERSATION')
      expect(options).toEqual({ requestId: 'req_2', apiKey: 'sk-ant-operator', timeoutMs: 50 })
    })

    it.each<[string, string, string]>([
      ['openai', 'o4-mini', 'an o-series model'],
      ['openai', 'gpt-5-mini', 'a GPT-5 model'],
      ['groq', 'openai/gpt-oss-20b', 'gpt-oss'],
      ['gemini', 'gemini-2.5-flash', 'Gemini 2.5'],
      ['deepseek', 'deepseek-reasoner', 'DeepSeek’s reasoner'],
      ['together', 'deepseek-ai/DeepSeek-R1-Distill-Llama-70B', 'an R1 distillation'],
    ])(
      'should give %s %s room to reason, a low effort and no temperature (%s)',
      async (id, model) => {
        const body = await bodySentTo(id, model)
        expect(body).toMatchObject({ max_completion_tokens: 2_048, reasoning_effort: 'low' })
        expect(body).not.toHaveProperty('max_tokens')
        expect(body).not.toHaveProperty('temperature')
      },
    )

    it.each<[string, string, Record<string, number>]>([
      ['openai', 'gpt-4o-mini', { max_completion_tokens: 32, temperature: 0 }],
      ['anthropic', 'claude-3-5-haiku-latest', { max_tokens: 32, temperature: 0 }],
      ['gemini', 'gemini-2.0-flash', { max_tokens: 32, temperature: 0 }],
      ['groq', 'llama-3.1-8b-instant', { max_tokens: 32, temperature: 0 }],
      ['together', 'meta-llama/Llama-3.3-70B-Instruct-Turbo', { max_tokens: 32, temperature: 0 }],
    ])('should give %s %s a verdict’s budget at temperature 0', async (id, model, params) => {
      const body = await bodySentTo(id, model)
      expect(body).toMatchObject(params)
      expect(body).not.toHaveProperty('reasoning_effort')
      expect(Object.keys(body ?? {}).sort()).toEqual(
        ['messages', 'model', ...Object.keys(params)].sort(),
      )
    })

    it('should send no key when the operator configured none', async () => {
      const keyless: FirewallBackend = {
        ...GUARD,
        target: operatorTarget('together', GUARD_MODEL, undefined),
      }
      const call = callAnswering(() => Promise.resolve(answer(completion('safe'))))
      await classify(call, keyless, TURNS, OPTIONS)
      expect(call.mock.calls[0]?.[2].apiKey).toBeUndefined()
    })
  })

  describe('what it reads', () => {
    it('should read an unsafe verdict and its usage', async () => {
      const call = callAnswering(() => Promise.resolve(answer(completion('unsafe\nS9', USAGE))))
      expect(await classify(call, GUARD, TURNS, OPTIONS)).toEqual({
        verdict: { safe: false, categories: ['S9'] },
        usage: {
          promptTokens: 10,
          completionTokens: 3,
          totalTokens: 13,
          cachedTokens: 0,
          reasoningTokens: 0,
        },
      })
    })

    it('should read a safe verdict', async () => {
      const call = callAnswering(() => Promise.resolve(answer(completion('safe', USAGE))))
      expect((await classify(call, GUARD, TURNS, OPTIONS)).verdict).toEqual({ safe: true })
    })

    it('should have no usage when the answer reports none, and zeros for missing counts', async () => {
      const none = callAnswering(() => Promise.resolve(answer(completion('safe'))))
      expect((await classify(none, GUARD, TURNS, OPTIONS)).usage).toBeUndefined()
      const partial = callAnswering(() =>
        Promise.resolve(answer(completion('safe', { prompt_tokens: 7, completion_tokens: 'x' }))),
      )
      expect((await classify(partial, GUARD, TURNS, OPTIONS)).usage).toEqual({
        promptTokens: 7,
        completionTokens: 0,
        totalTokens: 0,
        cachedTokens: 0,
        reasoningTokens: 0,
      })
    })
  })

  describe('failing', () => {
    it.each([
      ['prose', completion('I cannot classify this request.')],
      ['an unknown category', completion('unsafe\nS42')],
      ['unsafe without categories', completion('unsafe')],
      ['content that is not a string', completion(['safe'])],
      ['a null content', completion(null)],
      ['a body without choices', { id: 'x', usage: USAGE }],
      ['empty choices', { choices: [] }],
      ['a JSON null body', null],
    ])('should throw on %s, without the prompt in the message', async (_, body) => {
      const call = callAnswering(() => Promise.resolve(answer(body)))
      const message = await rejection(classify(call, GUARD, TURNS, OPTIONS))
      expect(message).toBe(`together/${GUARD_MODEL} answered outside the safe/unsafe contract`)
      expect(message).not.toContain(PROMPT)
    })

    it('should throw on an answer that echoes the prompt, without the prompt in the message', async () => {
      const call = callAnswering(() =>
        Promise.resolve(answer(completion(`The user asked: "${PROMPT}". That is unsafe.`))),
      )
      const message = await rejection(classify(call, GUARD, TURNS, OPTIONS))
      expect(message).not.toContain(PROMPT)
      expect(message).not.toContain('culture')
    })

    it('should throw on a body that is not JSON', async () => {
      const call = callAnswering(() => Promise.resolve(new Response('<html>502</html>')))
      await expect(classify(call, GUARD, TURNS, OPTIONS)).rejects.toThrow()
    })

    it('should pass on the call’s own failure', async () => {
      const failure = new Error('together: no response headers within 1234 ms')
      const call = callAnswering(() => Promise.reject(failure))
      await expect(classify(call, GUARD, TURNS, OPTIONS)).rejects.toBe(failure)
    })
  })
})

describe('readStoredVerdict', () => {
  const stored: StoredVerdict = {
    categories: ['S1', 'S10'],
    backend: `together/${GUARD_MODEL}`,
    model_ref: `[together](${GUARD_MODEL})`,
    created_at: 1_773_135_000,
  }

  it('should read back a stored verdict', () => {
    expect(readStoredVerdict(JSON.stringify(stored))).toEqual(stored)
  })

  it('should keep only the verdict’s own fields', () => {
    expect(readStoredVerdict(JSON.stringify({ ...stored, org: 'org_1', extra: 'x' }))).toEqual(
      stored,
    )
  })

  it.each([
    ['text that is not JSON', 'not json'],
    ['an empty string', ''],
    ['JSON null', 'null'],
    ['a JSON string', '"S1"'],
    ['a JSON array', '["S1"]'],
    ['no categories', JSON.stringify({ ...stored, categories: undefined })],
    ['empty categories', JSON.stringify({ ...stored, categories: [] })],
    ['categories that are not strings', JSON.stringify({ ...stored, categories: ['S1', 10] })],
    ['categories as one string', JSON.stringify({ ...stored, categories: 'S1' })],
    ['no backend', JSON.stringify({ ...stored, backend: undefined })],
    ['a backend that is not a string', JSON.stringify({ ...stored, backend: 1 })],
    ['no model_ref', JSON.stringify({ ...stored, model_ref: undefined })],
    ['no created_at', JSON.stringify({ ...stored, created_at: undefined })],
    ['created_at as a string', JSON.stringify({ ...stored, created_at: '1773135000' })],
  ])('should read %s as no verdict', (_, entry) => {
    expect(readStoredVerdict(entry)).toBeUndefined()
  })
})
