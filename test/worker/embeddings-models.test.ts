/** `/v1/embeddings` and `/v1/models` through the OpenAI-compatible family. */
import { describe, expect, it } from 'vitest'
import { authHeaders, gatewayFetch, post, received, uniqueTag, withBindings } from './helpers'

type Embeddings = {
  object: string
  data: { object: string; index: number; embedding: number[] | string }[]
  usage: { prompt_tokens: number }
}

describe('embeddings', () => {
  it('should embed a batch and pass dimensions through to OpenAI', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/embeddings',
      { model: 'text-embedding-3-small', input: ['one', 'two', 'three'], dimensions: 16 },
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-provider')).toBe('openai')
    const body = await res.json<Embeddings>()
    expect(body.object).toBe('list')
    expect(body.data.map((d) => d.index)).toEqual([0, 1, 2])
    expect(body.data.every((d) => Array.isArray(d.embedding) && d.embedding.length === 16)).toBe(
      true,
    )
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect(seen?.body).toEqual({
      model: 'text-embedding-3-small',
      input: ['one', 'two', 'three'],
      dimensions: 16,
    })
  })

  it('should relay base64 encodings unchanged', async () => {
    const res = await post('/v1/embeddings', {
      model: 'openai/text-embedding-3-small',
      input: 'hello',
      encoding_format: 'base64',
    })
    const body = await res.json<Embeddings>()
    expect(typeof body.data[0]?.embedding).toBe('string')
  })

  it('should rename dimensions for Mistral and stay valid under its strict schema', async () => {
    const tag = uniqueTag()
    const res = await post(
      '/v1/embeddings',
      { model: 'mistral/mistral-embed', input: ['a', 'b'], dimensions: 8, user: 'u1' },
      { 'x-fake-tag': tag },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-dropped-params')).toBe('user')
    const [seen] = await received(tag)
    expect(seen?.violations).toEqual([])
    expect(seen?.body).toEqual({ model: 'mistral-embed', input: ['a', 'b'], output_dimension: 8 })
  })

  it.each([
    [{ model: 'text-embedding-3-small' }],
    [{ model: 'text-embedding-3-small', input: [] }],
  ])('should answer 400 for a missing or empty input: %j', async (body) => {
    const res = await post('/v1/embeddings', body)
    expect(res.status).toBe(400)
    expect((await res.json<{ error: { param: string } }>()).error.param).toBe('input')
  })
})

describe('models', () => {
  it('should list every configured provider model as provider/model', async () => {
    const res = await gatewayFetch('http://gateway/v1/models', { headers: authHeaders() })
    expect(res.status).toBe(200)
    const body = await res.json<{ object: string; data: { id: string; object: string }[] }>()
    expect(body.object).toBe('list')
    const ids = body.data.map((m) => m.id)
    for (const id of [
      'openai/gpt-4o-mini',
      'groq/llama-3.3-70b-versatile',
      'mistral/mistral-small-latest',
      'deepseek/deepseek-chat',
      'together/meta-llama/Llama-3.3-70B-Instruct-Turbo',
      'local/llama3.2',
    ]) {
      expect(ids).toContain(id)
    }
    expect(body.data.every((m) => m.object === 'model')).toBe(true)
    expect(res.headers.get('floopy-unavailable-providers')).toBeNull()
  })

  it('should leave out a provider that fails and name it', async () => {
    const res = await withBindings(
      { GROQ_BASE_URL: 'http://127.0.0.1:9' },
      new Request('http://gateway/v1/models', { headers: authHeaders() }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('floopy-unavailable-providers')).toBe('groq')
    const body = await res.json<{ data: { id: string }[] }>()
    expect(body.data.some((m) => m.id.startsWith('groq/'))).toBe(false)
    expect(body.data.some((m) => m.id.startsWith('openai/'))).toBe(true)
  })
})
