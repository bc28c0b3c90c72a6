/**
 * The raw facts as a Queue message: sealed and opened, they read back as the facts they were, and
 * the record built from them is the record `buildRecord` builds from the facts themselves —
 * streamed answers, embeddings, cache hits, firewall checks, refusals and IP hashes alike. A
 * message never passes the Queue's 128 KB: large heads are cut before sealing (the smaller keeps
 * all of itself when it can), marked so the record says `*_truncated`, and a cut text leaves no
 * fragment of PII behind. Metadata-only organisations send no body.
 */
import { describe, expect, it } from 'vitest'
import {
  decodeFacts,
  encodeFacts,
  fitRecord,
  MESSAGE_LIMIT,
  openAllFacts,
  openFacts,
  payloadLimit,
  REQUEST_HEAD_LIMIT,
  sealBundles,
  sealFacts,
} from './facts'
import { BODY_LIMIT, CAPTURE_LIMIT, buildRecord, ipHashKey, type RequestFacts } from './record'
import { parseLogKeys, sealMessage, sealOverhead } from './seal'
import { requestFacts } from '../../test/support/log-facts'

const KEYS = parseLogKeys(
  JSON.stringify({
    current: 'k1',
    keys: { k1: btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i * 7))) },
  }),
)

const usage = {
  promptTokens: 1000,
  completionTokens: 500,
  totalTokens: 1500,
  cachedTokens: 200,
  reasoningTokens: 0,
}

/** The shared facts, with a user agent and a request body of this file's own. */
const facts = (overrides: Partial<RequestFacts> = {}): RequestFacts =>
  requestFacts({
    usage,
    userAgent: 'OpenAI/JS 7.0 jane.doe@example.com',
    requestBody: JSON.stringify({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Mail jane.doe@example.com, card 4111 1111 1111 1111' }],
    }),
    ...overrides,
  })

const sse = (contents: readonly string[]): string =>
  contents
    .map((content, i) =>
      JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content } : { content } }],
      }),
    )
    .map((chunk) => `data: ${chunk}\n\n`)
    .join('')

const CASES: readonly [string, Partial<RequestFacts>][] = [
  ['a plain chat answer', {}],
  [
    'a streamed answer',
    {
      stream: true,
      response: {
        text: `${sse(['write to bob', '@example.org'])}data: [DONE]\n\n`,
        truncated: false,
      },
    },
  ],
  [
    'embeddings',
    {
      endpoint: 'embeddings',
      response: { text: JSON.stringify({ data: [{ embedding: [0.1, 0.2] }] }), truncated: false },
    },
  ],
  ['a captured head cut by the tap', { response: { text: '{"choices":[{"mess', truncated: true } }],
  [
    'a cache hit',
    { cacheStatus: 'HIT', cacheHit: { tier: 'exact', savedUsage: usage }, usage: undefined },
  ],
  [
    'a stream whose usage the gateway estimated',
    { stream: true, usage: { ...usage, estimated: true } },
  ],
  [
    'a cache hit whose stored usage was estimated',
    {
      cacheStatus: 'HIT',
      cacheHit: { tier: 'exact', savedUsage: { ...usage, estimated: true } },
      usage: undefined,
    },
  ],
  [
    'a firewall check and a prompt',
    {
      firewallVerdict: 'ERROR',
      firewallCheck: {
        source: 'model',
        categories: [],
        backend: 'together/meta-llama/Llama-Guard-4-12B',
        modelRef: '[together](meta-llama/Llama-Guard-4-12B)',
        latencyMs: 3000,
        usage: undefined,
        error: 'Error: no answer for jane.doe@example.com',
      },
      prompt: { id: 'welcome', version: 3 },
      failedAttempts: ['anthropic/claude-sonnet-4: 503 PROVIDER_ERROR'],
      clientRequestId: 'client-536-22-8174',
    },
  ],
  [
    'a refusal before any provider',
    {
      provider: '',
      modelServed: '',
      status: 401,
      errorCode: 'INVALID_API_KEY',
      usage: undefined,
      upstreamStartedAt: undefined,
      upstreamHeadersAt: undefined,
      response: undefined,
      attempts: 0,
      end: undefined,
      clientIp: undefined,
    },
  ],
  ['a metadata-only organisation', { bodies: false }],
]

describe('sealed facts', () => {
  it.each(CASES)('should build the record buildRecord builds, for %s', async (_, overrides) => {
    const ipKey = await ipHashKey('a-log-secret-of-some-length')
    const original = facts(overrides)
    const sealed = sealFacts(KEYS, original)
    const opened = openFacts(KEYS, sealed)
    expect(await buildRecord(opened, ipKey)).toEqual(await buildRecord(original, ipKey))
  })

  it('should read back the raw facts, unscrubbed, with the keys JSON dropped', () => {
    const original = facts({ clientIp: undefined, usage: undefined })
    const opened = openFacts(KEYS, sealFacts(KEYS, original))
    expect(opened).toEqual(original)
    expect(opened.requestBody).toContain('4111 1111 1111 1111')
    expect(Object.keys(opened)).toEqual(expect.arrayContaining(['clientIp', 'usage']))
  })

  it('should seal many requests to a message, in order, each message within the limit', () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      facts({ requestId: `req-${String(i)}`, requestBody: 'x'.repeat(3_000 + 500 * i) }),
    )
    const messages = sealBundles(
      KEYS,
      many.map((one) => encodeFacts(one, payloadLimit(KEYS))),
    )
    // 40 requests of 3–23 KB each: more than one message, far fewer than 40.
    expect(messages.length).toBeGreaterThan(1)
    expect(messages.length).toBeLessThan(10)
    for (const message of messages) expect(message.byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT)
    const opened = messages.flatMap((message) => openAllFacts(KEYS, message))
    expect(opened).toEqual(many)
  })

  it('should still open a message of one request sealed without a bundle header', () => {
    const original = facts()
    const single = sealMessage(KEYS, encodeFacts(original, MESSAGE_LIMIT - sealOverhead(KEYS)))
    expect(openAllFacts(KEYS, single)).toEqual([original])
    expect(openFacts(KEYS, single)).toEqual(original)
  })

  it('should refuse a bundle that is cut or holds another count', () => {
    const payload = encodeFacts(facts(), payloadLimit(KEYS))
    const bundle = (count: number, parts: readonly Uint8Array[]): Uint8Array => {
      const size = parts.reduce((sum, part) => sum + 4 + part.length, 8)
      const out = new Uint8Array(size)
      const view = new DataView(out.buffer)
      view.setUint32(0, 0xffffffff)
      view.setUint32(4, count)
      let at = 8
      for (const part of parts) {
        view.setUint32(at, part.length)
        out.set(part, at + 4)
        at += 4 + part.length
      }
      return out
    }
    expect(openAllFacts(KEYS, sealMessage(KEYS, bundle(2, [payload, payload])))).toHaveLength(2)
    expect(() => openAllFacts(KEYS, sealMessage(KEYS, bundle(3, [payload, payload])))).toThrow()
    expect(() => openAllFacts(KEYS, sealMessage(KEYS, bundle(1, [payload, payload])))).toThrow()
    expect(() => openFacts(KEYS, sealMessage(KEYS, bundle(2, [payload, payload])))).toThrow()
  })

  it('should send no body for a metadata-only organisation', () => {
    const payload = encodeFacts(facts({ bodies: false }), MESSAGE_LIMIT)
    const text = new TextDecoder().decode(payload)
    expect(text).not.toContain('4111')
    expect(text).not.toContain('555-2671')
    expect(decodeFacts(payload)).toMatchObject({ requestBody: '', response: undefined })
  })

  it('should carry the heads as their own bytes, not escaped in the JSON', () => {
    const body = '{"quotes":"\\"\\"\\""}\n'
    const payload = encodeFacts(facts({ requestBody: body }), MESSAGE_LIMIT)
    expect(new TextDecoder().decode(payload)).toContain(body)
    expect(decodeFacts(payload).requestBody).toBe(body)
  })

  it('should frame each head to its exact UTF-8 length, whatever its characters', () => {
    const body = '{"q":"é 中文 😀 \\u0000"}'
    const text = 'data: {"a":"ü😀"}\n\n'
    const payload = encodeFacts(
      facts({ requestBody: body, userAgent: 'agent/ü', response: { text, truncated: false } }),
      MESSAGE_LIMIT,
    )
    const encoder = new TextEncoder()
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
    const metaLength = view.getUint32(0)
    const bodyAt = 4 + metaLength
    expect(view.getUint32(bodyAt)).toBe(encoder.encode(body).length)
    const textAt = bodyAt + 4 + encoder.encode(body).length
    expect(view.getUint32(textAt)).toBe(encoder.encode(text).length)
    expect(payload.byteLength).toBe(textAt + 4 + encoder.encode(text).length)
    const decoded = decodeFacts(payload)
    expect(decoded.requestBody).toBe(body)
    expect(decoded.response?.text).toBe(text)
    expect(decoded.userAgent).toBe('agent/ü')
  })

  it('should refuse a payload of another format, or cut short', () => {
    const framed = (json: string, ...heads: string[]): Uint8Array => {
      const parts = [json, ...heads].map((part) => new TextEncoder().encode(part))
      const out = new Uint8Array(parts.reduce((total, part) => total + 4 + part.length, 0))
      let at = 0
      for (const part of parts) {
        new DataView(out.buffer).setUint32(at, part.length)
        out.set(part, at + 4)
        at += 4 + part.length
      }
      return out
    }
    const good = encodeFacts(facts(), MESSAGE_LIMIT)
    expect(decodeFacts(good).requestId).toBe('req-1')
    const meta = JSON.stringify({ v: 2, facts: { ...facts(), requestBody: undefined } })
    expect(() => decodeFacts(framed(meta, '', ''))).toThrow()
    expect(() => decodeFacts(framed('{"v":1}', '', ''))).toThrow()
    expect(() => decodeFacts(good.subarray(0, good.length - 1))).toThrow()
    expect(() => decodeFacts(new TextEncoder().encode(JSON.stringify({ v: 1 })))).toThrow()
  })
})

/** A JSON body of about `bytes` characters that JSON-escapes heavily (quotes and newlines). */
const quoted = (bytes: number): string => {
  const line = 'say "hello" and\\ "goodbye" — "ok"\n'
  return JSON.stringify({ messages: [{ role: 'user', content: line.repeat(bytes / line.length) }] })
}

describe('a message that would not fit the Queue', () => {
  const large = facts({
    requestBody: quoted(200 * 1024),
    response: { text: quoted(CAPTURE_LIMIT).slice(0, CAPTURE_LIMIT), truncated: true },
  })

  it('should cut both heads to fit 128 KB and say so in the record', async () => {
    const sealed = sealFacts(KEYS, large)
    expect(sealed.byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT)
    // Most of the room is used: the heads share it rather than give it away.
    expect(sealed.byteLength).toBeGreaterThan(MESSAGE_LIMIT * 0.95)
    const opened = openFacts(KEYS, sealed)
    expect(opened.cut).toEqual({ request: true, response: true })
    const record = await buildRecord(opened, undefined)
    expect(record.metadata).toMatchObject({
      request_body_truncated: 'true',
      response_body_truncated: 'true',
    })
    expect(new TextEncoder().encode(record.request_body).byteLength).toBeLessThanOrEqual(BODY_LIMIT)
  })

  it('should keep heads whole that fit only once measured, not by their characters', () => {
    // 3 bytes per character would be 180 KB; as ASCII they are 60 KB and fit whole.
    const body = 'a'.repeat(40_000)
    const text = 'b'.repeat(20_000)
    const original = facts({ requestBody: body, response: { text, truncated: false } })
    const opened = openFacts(KEYS, sealFacts(KEYS, original))
    expect(opened.cut).toBeUndefined()
    expect(opened.requestBody).toBe(body)
    expect(opened.response?.text).toBe(text)
  })

  it('should keep a small answer whole beside a large request, and cut between characters', () => {
    const answer = { text: quoted(30 * 1024), truncated: false }
    // 64 Ki characters of three bytes each: 192 KiB of UTF-8.
    const sealed = sealFacts(KEYS, facts({ requestBody: '—'.repeat(100_000), response: answer }))
    const opened = openFacts(KEYS, sealed)
    expect(sealed.byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT)
    expect(sealed.byteLength).toBeGreaterThan(MESSAGE_LIMIT - 100)
    expect(opened.response).toEqual(answer)
    expect(opened.cut).toEqual({ request: true, response: false })
    expect(opened.requestBody).toMatch(/^—+$/)
    expect(opened.requestBody.length).toBeGreaterThan(20_000)
  })

  it('should never serialise more of a request than its head', () => {
    const huge = facts({ requestBody: 'x'.repeat(10 * 1024 * 1024), response: undefined })
    const opened = openFacts(KEYS, sealFacts(KEYS, huge))
    expect(opened.requestBody).toHaveLength(REQUEST_HEAD_LIMIT)
    expect(opened.cut).toEqual({ request: true, response: false })
  })

  it('should not split a character at the cut', () => {
    const emoji = facts({ requestBody: '😀'.repeat(REQUEST_HEAD_LIMIT), response: undefined })
    const opened = openFacts(KEYS, sealFacts(KEYS, emoji))
    expect(opened.requestBody).toMatch(/^(😀)+$/u)
  })

  it.each([
    ['a card number', '4111 1111 1111 1111'],
    ['an email', 'jane.doe.personal@example.com'],
    ['a key', 'sk-proj-AbCdEf0123456789AbCdEf0123456789'],
    ['a phone number', '+44 20 7946 0958'],
  ])('should leave no fragment of %s where a text was cut through it', async (_, secret) => {
    const before = 'lorem ipsum '.repeat(3_000)
    const body = `${before}${secret}${' and more text after it'.repeat(20)}`
    const base = encodeFacts(facts({ requestBody: '', response: undefined }), MESSAGE_LIMIT)
    let through = 0
    // Every cut from just before the secret to just after it.
    for (let extra = 0; extra < 400; extra++) {
      const limit = base.byteLength + before.length + extra
      const opened = decodeFacts(
        encodeFacts(facts({ requestBody: body, response: undefined }), limit),
      )
      const kept = opened.requestBody.length - before.length
      if (kept <= 0 || kept >= secret.length) continue
      through++
      expect(opened.cut?.request).toBe(true)
      const record = await buildRecord(opened, undefined)
      expect(record.request_body).not.toContain(secret.slice(0, 4))
      expect(record.metadata.request_body_truncated).toBe('true')
    }
    expect(through).toBeGreaterThan(secret.length / 2)
  })

  it('should keep within the limit it is given, overhead of the seal included', () => {
    expect(sealFacts(KEYS, large).byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT)
    const payload = encodeFacts(large, MESSAGE_LIMIT - sealOverhead(KEYS))
    expect(payload.byteLength).toBeLessThanOrEqual(MESSAGE_LIMIT - sealOverhead(KEYS))
  })
})

describe('fitRecord', () => {
  it('should leave a record that fits as it is', async () => {
    const record = await buildRecord(facts(), undefined)
    expect(fitRecord(record)).toBe(record)
  })

  it('should cut the bodies of a record that would not fit a message', async () => {
    const record = await buildRecord(
      facts({
        requestBody: quoted(BODY_LIMIT * 2),
        response: { text: quoted(BODY_LIMIT * 2), truncated: false },
      }),
      undefined,
    )
    expect(new TextEncoder().encode(JSON.stringify(record)).byteLength).toBeGreaterThan(
      MESSAGE_LIMIT,
    )
    const fitted = fitRecord(record)
    expect(new TextEncoder().encode(JSON.stringify(fitted)).byteLength).toBeLessThanOrEqual(
      MESSAGE_LIMIT,
    )
    expect(fitted.metadata).toMatchObject({
      request_body_truncated: 'true',
      response_body_truncated: 'true',
    })
    expect(record.request_body.startsWith(fitted.request_body)).toBe(true)
  })
})
