/**
 * @module The request's one embedding: of the last user message, from `FLOOPY_EMBEDDING_MODEL`
 * (`<provider>/<model>`, any configured provider or custom endpoint that serves embeddings) called
 * through the provider client with the operator's key — or, with no model configured and the
 * embedded stores in use (`npm run dev`), the deterministic local embedder (`embedder.ts`).
 */
import type { callProvider } from '../providers/client'
import type { Target } from '../types'
import { localEmbedding } from './embedder'

export type Embedder = {
  /** What the vectors come from: names their collection, so models never mix. */
  readonly model: string
  embed(text: string, requestId: string, timeoutMs: number): Promise<Float32Array>
}

/** The local embedder (256 dimensions of hashed n-grams): dev only, never a production model. */
export const localEmbedder: Embedder = {
  model: 'local-hashed-ngrams',
  embed: (text) => Promise.resolve(localEmbedding(text)),
}

const isNumbers = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length > 0 && value.every((n) => typeof n === 'number')

/** Embeddings from a provider's `/embeddings` endpoint (OpenAI's shape, whatever the provider). */
export const providerEmbedder = (target: Target, call: typeof callProvider): Embedder => ({
  model: `${target.provider.spec.id}/${target.model}`,
  async embed(text, requestId, timeoutMs) {
    const response = await call(
      target,
      {
        kind: 'embeddings',
        body: { model: target.model, input: text, encoding_format: 'float' },
        model: target.model,
        stream: false,
        includeUsage: false,
      },
      { requestId, apiKey: target.provider.apiKey, timeoutMs },
    )
    const body: unknown = await response.json()
    const data = (body as { data?: { embedding?: unknown }[] } | null)?.data
    const vector = data?.[0]?.embedding
    if (!isNumbers(vector)) throw new Error('the embeddings answer holds no vector')
    return Float32Array.from(vector)
  },
})
