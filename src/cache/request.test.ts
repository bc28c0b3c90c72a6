/**
 * What a cached answer is keyed and scoped by: canonical JSON (keys sorted at every depth, arrays
 * in order); the exact key's text leaves out only what shapes the transport or names the caller,
 * and keeps everything that can change the answer; the semantic query embeds only the last user
 * message's text and holds everything else as its scope.
 */
import { describe, expect, it } from 'vitest'
import type { ParsedRequest } from '../types'
import { canonicalJson, exactKeyText, semanticQuery, type CacheScope } from './request'

const SCOPE: CacheScope = { orgId: 'org_1', namespace: 'default', extra: {} }

const chat = (body: Record<string, unknown>): ParsedRequest => ({
  kind: 'chat',
  body,
  model: typeof body.model === 'string' ? body.model : '',
  stream: body.stream === true,
  includeUsage: false,
})

const BASE = {
  model: 'openai/gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: 'What is the capital of France?' },
  ],
  temperature: 0.2,
}

const keyText = (body: Record<string, unknown>, scope: CacheScope = SCOPE): string =>
  exactKeyText(scope, chat(body))

/** The semantic query, failing the test when there is none. */
const queryOf = (body: Record<string, unknown>, scope: CacheScope = SCOPE) => {
  const query = semanticQuery(scope, chat(body))
  if (query === undefined) throw new Error('expected a semantic query')
  return query
}

const withLast = (content: unknown, extra: Record<string, unknown> = {}) => ({
  ...BASE,
  messages: [BASE.messages[0], { role: 'user', content, ...extra }],
})

describe('canonicalJson', () => {
  it('should sort object keys', () => {
    expect(canonicalJson({ b: 1, a: 2, c: { z: 1, y: 2 } })).toBe('{"a":2,"b":1,"c":{"y":2,"z":1}}')
  })

  it('should give equal text for objects equal but for key order, at any depth', () => {
    const a = { model: 'm', messages: [{ role: 'user', content: 'x', name: 'n' }], n: { p: [1] } }
    const b = { n: { p: [1] }, messages: [{ name: 'n', content: 'x', role: 'user' }], model: 'm' }
    expect(canonicalJson(a)).toBe(canonicalJson(b))
  })

  it('should keep arrays in their order', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]')
    expect(canonicalJson([{ b: 1, a: 1 }, 'x'])).toBe('[{"a":1,"b":1},"x"]')
    expect(canonicalJson({ m: ['a', 'b'] })).not.toBe(canonicalJson({ m: ['b', 'a'] }))
  })

  it('should write scalars as JSON and leave undefined fields out', () => {
    expect(canonicalJson({ s: 'a"b', n: 1.5, t: true, z: null, u: undefined })).toBe(
      '{"n":1.5,"s":"a\\"b","t":true,"z":null}',
    )
  })

  it('should sort keys by code unit, not by locale', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4 })).toBe('{"B":2,"_":4,"a":3,"b":1}')
  })
})

describe('exactKeyText', () => {
  it('should not depend on the body’s key order', () => {
    const reordered = { temperature: 0.2, messages: BASE.messages, model: BASE.model }
    expect(keyText(reordered)).toBe(keyText(BASE))
  })

  it.each([
    ['stream', true],
    ['stream_options', { include_usage: true }],
    ['user', 'user-42'],
    ['metadata', { run: 'a' }],
    ['store', true],
  ])('should leave out %s', (field, value) => {
    expect(keyText({ ...BASE, [field]: value })).toBe(keyText(BASE))
  })

  it('should give a streamed and a non-streamed request the same text', () => {
    expect(
      keyText({ ...BASE, stream: true, stream_options: { include_usage: true }, user: 'u' }),
    ).toBe(keyText({ ...BASE, stream: false }))
  })

  it.each([
    ['the model', { model: 'anthropic/claude-sonnet-4-5' }],
    ['the temperature', { temperature: 0.3 }],
    ['top_p', { top_p: 0.5 }],
    ['max_tokens', { max_tokens: 10 }],
    ['a tool', { tools: [{ type: 'function', function: { name: 'get_weather' } }] }],
    ['the tool choice', { tool_choice: 'required' }],
    ['the response format', { response_format: { type: 'json_object' } }],
    ['an unknown field', { x_vendor_knob: 1 }],
    ['a seed', { seed: 7 }],
    ['n', { n: 2 }],
  ])('should change with %s', (_, change) => {
    expect(keyText({ ...BASE, ...change })).not.toBe(keyText(BASE))
  })

  it('should change with any message', () => {
    expect(keyText(withLast('What is the capital of Spain?'))).not.toBe(keyText(BASE))
    expect(
      keyText({
        ...BASE,
        messages: [{ role: 'system', content: 'Be verbose.' }, BASE.messages[1]],
      }),
    ).not.toBe(keyText(BASE))
    expect(keyText({ ...BASE, messages: [...BASE.messages].reverse() })).not.toBe(keyText(BASE))
    expect(keyText(withLast('What is the capital of France?', { name: 'ada' }))).not.toBe(
      keyText(BASE),
    )
  })

  it('should change with the organisation, the namespace and the extra scope', () => {
    const base = keyText(BASE)
    expect(keyText(BASE, { ...SCOPE, orgId: 'org_2' })).not.toBe(base)
    expect(keyText(BASE, { ...SCOPE, namespace: 'eu' })).not.toBe(base)
    expect(keyText(BASE, { ...SCOPE, extra: { firewall: true } })).not.toBe(base)
  })

  it('should change with the endpoint kind', () => {
    const body = { model: 'm', input: 'hello' }
    expect(
      exactKeyText(SCOPE, {
        kind: 'embeddings',
        body,
        model: 'm',
        stream: false,
        includeUsage: false,
      }),
    ).not.toBe(exactKeyText(SCOPE, { ...chat(body) }))
  })
})

describe('semanticQuery', () => {
  it('should take a last user message of text', () => {
    expect(queryOf(BASE).text).toBe('What is the capital of France?')
  })

  it('should take a last user message of text parts only, joined by new lines', () => {
    const query = queryOf(
      withLast([
        { type: 'text', text: 'First line.' },
        { type: 'text', text: 'Second line.' },
      ]),
    )
    expect(query.text).toBe('First line.\nSecond line.')
  })

  it.each([
    [
      'an assistant message last',
      { messages: [...BASE.messages, { role: 'assistant', content: 'Paris.' }] },
    ],
    ['a tool message last', { messages: [...BASE.messages, { role: 'tool', content: '{}' }] }],
    ['a system message last', { messages: [{ role: 'system', content: 'Hi' }] }],
    [
      'an image part',
      withLast([
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      ]),
    ],
    ['an input audio part', withLast([{ type: 'input_audio', input_audio: { data: 'AAAA' } }])],
    ['a text part without text', withLast([{ type: 'text' }])],
    ['a part that is not an object', withLast(['hello'])],
    ['no parts', withLast([])],
    ['empty text', withLast('')],
    ['blank text', withLast('  \n ')],
    ['blank text parts', withLast([{ type: 'text', text: ' ' }])],
    ['null content', withLast(null)],
    ['no messages', { messages: [] }],
  ])('should not apply with %s', (_, change) => {
    expect(semanticQuery(SCOPE, chat({ ...BASE, ...change }))).toBeUndefined()
  })

  it('should not apply to embeddings', () => {
    const body = { model: 'm', input: 'hello', messages: BASE.messages }
    expect(
      semanticQuery(SCOPE, {
        kind: 'embeddings',
        body,
        model: 'm',
        stream: false,
        includeUsage: false,
      }),
    ).toBeUndefined()
  })

  it('should not hold the embedded text in its scope', () => {
    const query = queryOf(withLast('A question about a unique-marker-771'))
    expect(query.scopeText).not.toContain('unique-marker-771')
  })

  it('should keep its scope when only the last user message’s text changes', () => {
    expect(queryOf(withLast('What’s the capital city of France?')).scopeText).toBe(
      queryOf(BASE).scopeText,
    )
    expect(queryOf(withLast([{ type: 'text', text: 'Capital of France?' }])).scopeText).toBe(
      queryOf(BASE).scopeText,
    )
  })

  it('should keep its scope across transport and caller fields', () => {
    expect(
      queryOf({ ...BASE, stream: true, stream_options: { include_usage: true }, user: 'u' })
        .scopeText,
    ).toBe(queryOf(BASE).scopeText)
  })

  it.each([
    [
      'the system prompt',
      { messages: [{ role: 'system', content: 'Be verbose.' }, BASE.messages[1]] },
    ],
    [
      'an earlier turn',
      {
        messages: [
          BASE.messages[0],
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          BASE.messages[1],
        ],
      },
    ],
    ['the last message’s name', withLast('What is the capital of France?', { name: 'ada' })],
    ['the tools', { tools: [{ type: 'function', function: { name: 'get_weather' } }] }],
    ['the tool choice', { tool_choice: 'none' }],
    ['the response format', { response_format: { type: 'json_object' } }],
    ['the model', { model: 'openai/gpt-4o' }],
    ['the temperature', { temperature: 1 }],
    ['max_tokens', { max_tokens: 5 }],
    ['an unknown field', { x_vendor_knob: true }],
  ])('should change its scope with %s', (_, change) => {
    expect(queryOf({ ...BASE, ...change }).scopeText).not.toBe(queryOf(BASE).scopeText)
  })

  it('should change its scope with the organisation, the namespace and the extra scope', () => {
    const base = queryOf(BASE).scopeText
    expect(queryOf(BASE, { ...SCOPE, orgId: 'org_2' }).scopeText).not.toBe(base)
    expect(queryOf(BASE, { ...SCOPE, namespace: 'eu' }).scopeText).not.toBe(base)
    expect(queryOf(BASE, { ...SCOPE, extra: { firewall: true } }).scopeText).not.toBe(base)
  })

  it('should leave the request it was given untouched', () => {
    const body = structuredClone(BASE)
    queryOf(body)
    expect(body).toEqual(BASE)
  })
})
