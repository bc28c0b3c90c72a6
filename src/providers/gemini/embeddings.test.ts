import { describe, expect, it } from 'vitest'
import base64Fixture from '../../../test/fixtures/openai/fixtures/embeddings-base64-response.json?raw'
import floatFixture from '../../../test/fixtures/openai/fixtures/embeddings-float-response.json?raw'
import { GatewayError } from '../../errors'
import { float32Base64, toBatchEmbedRequest, toEmbeddingResponse } from './embeddings'

type OpenAIEmbeddings = { data: { embedding: number[] | string }[] }

const refusal = (body: Record<string, unknown>): GatewayError => {
  try {
    toBatchEmbedRequest(body, 'gemini-embedding-001')
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
  throw new Error('the translation did not throw')
}

describe('toBatchEmbedRequest', () => {
  it('should send a single string as a batch of one', () => {
    expect(toBatchEmbedRequest({ model: 'x', input: 'hello' }, 'gemini-embedding-001')).toEqual({
      request: {
        requests: [
          { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hello' }] } },
        ],
      },
      dropped: [],
    })
  })

  it('should send each string of a batch, in order, with the requested dimensions', () => {
    const { request } = toBatchEmbedRequest(
      { model: 'x', input: ['a', 'b'], dimensions: 256, encoding_format: 'base64' },
      'models/text-embedding-004',
    )
    expect(request.requests).toEqual([
      {
        model: 'models/text-embedding-004',
        content: { parts: [{ text: 'a' }] },
        outputDimensionality: 256,
      },
      {
        model: 'models/text-embedding-004',
        content: { parts: [{ text: 'b' }] },
        outputDimensionality: 256,
      },
    ])
  })

  it('should drop and name user and unknown fields', () => {
    expect(
      toBatchEmbedRequest(
        { model: 'x', input: 'a', user: 'u-1', task: 'search', dimensions: null },
        'm',
      ).dropped,
    ).toEqual(['user', 'task'])
  })

  it.each([
    [[1, 2, 3], 'UNSUPPORTED_BY_PROVIDER', 'input'],
    [[[1], [2]], 'UNSUPPORTED_BY_PROVIDER', 'input'],
  ])('should refuse token input %j', (input, code, param) => {
    const err = refusal({ model: 'x', input })
    expect([err.code, err.status, err.param]).toEqual([code, 400, param])
  })

  it.each([
    ['dimensions', 0],
    ['dimensions', 1.5],
    ['encoding_format', 'int8'],
  ])('should refuse %s = %j', (field, value) => {
    const err = refusal({ model: 'x', input: 'a', [field]: value })
    expect([err.code, err.param]).toEqual(['INVALID_REQUEST', field])
  })
})

describe('toEmbeddingResponse', () => {
  const floats = JSON.parse(floatFixture) as OpenAIEmbeddings
  const base64 = JSON.parse(base64Fixture) as OpenAIEmbeddings
  const vector = floats.data[0]?.embedding as number[]

  it('should answer OpenAI floats in order, with zero usage when Gemini reports none', () => {
    expect(
      toEmbeddingResponse(
        { embeddings: [{ values: [0.5, -1] }, { values: [0.25] }] },
        { model: 'gemini-embedding-001', base64: false },
      ),
    ).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, -1] },
        { object: 'embedding', index: 1, embedding: [0.25] },
      ],
      model: 'gemini-embedding-001',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    })
  })

  it("should encode base64 exactly as OpenAI does (openai-node's recorded pair)", () => {
    expect(vector.length).toBe(256)
    const body = toEmbeddingResponse(
      { embeddings: [{ values: vector }] },
      { model: 'm', base64: true },
    )
    expect(body.data[0]?.embedding).toBe(base64.data[0]?.embedding)
  })

  it('should read usage when the answer carries it', () => {
    const body = toEmbeddingResponse(
      { embeddings: [], usageMetadata: { promptTokenCount: 7 } },
      { model: 'm', base64: false },
    )
    expect(body.usage).toEqual({ prompt_tokens: 7, total_tokens: 7 })
  })
})

describe('float32Base64', () => {
  it('should write little-endian float32 bytes', () => {
    // 1.0f = 0x3f800000 → bytes 00 00 80 3f; -2.5f = 0xc0200000 → 00 00 20 c0
    expect(float32Base64([1, -2.5])).toBe(
      btoa(String.fromCharCode(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0)),
    )
    expect(float32Base64([])).toBe('')
  })

  it('should encode vectors larger than one conversion slice', () => {
    const long = Array.from({ length: 10_000 }, (_, i) => i / 7)
    const decoded = Uint8Array.from(atob(float32Base64(long)), (c) => c.charCodeAt(0))
    const view = new DataView(decoded.buffer)
    expect(decoded.length).toBe(40_000)
    expect(view.getFloat32(4 * 9_999, true)).toBeCloseTo(9_999 / 7, 3)
  })
})
