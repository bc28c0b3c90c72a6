/**
 * @module Translates OpenAI embeddings requests to Gemini's `batchEmbedContents` and back.
 *
 * One endpoint serves a single input and a batch alike: each input string becomes one
 * `EmbedContentRequest` (`{ model, content: { parts: [{ text }] } }`) and each returned
 * `ContentEmbedding.values` one OpenAI `Embedding`, in order.
 *
 * | OpenAI                         | Gemini                                                 |
 * | ------------------------------ | ------------------------------------------------------ |
 * | `input`, a string or strings   | `requests[]`, one per string                           |
 * | `input` as token arrays        | 400 `UNSUPPORTED_BY_PROVIDER`: Gemini embeds text only |
 * | `dimensions`                   | `requests[].outputDimensionality`                      |
 * | `encoding_format`              | applied by the gateway: `base64` is each vector as     |
 * |                                | little-endian float32 bytes, as OpenAI encodes it (the |
 * |                                | official SDK asks for base64 by default)               |
 * | `user` and any other field     | dropped and named in `floopy-dropped-params`           |
 *
 * The v1beta `BatchEmbedContentsResponse` has no token counts, so `usage` is zeros (and no usage
 * is reported to the gateway) unless the answer carries a `usageMetadata`.
 */
import type { CreateEmbeddingResponse, Embedding } from 'openai/resources/embeddings'
import { GatewayError } from '../../errors'
import { resourceName } from './model'
import { isRecord, type Json } from '../fields'
import type { BatchEmbedContentsRequest, BatchEmbedContentsResponse } from './types'

export type TranslatedEmbeddings = {
  readonly request: BatchEmbedContentsRequest
  readonly dropped: readonly string[]
}

const TRANSLATED = new Set(['model', 'input', 'dimensions', 'encoding_format'])

/** The Gemini batch request for an OpenAI embeddings body (pure; throws 400s naming the field). */
export const toBatchEmbedRequest = (body: Readonly<Json>, model: string): TranslatedEmbeddings => {
  const { input, dimensions, encoding_format: format } = body
  const texts = typeof input === 'string' ? [input] : input
  if (!Array.isArray(texts) || !texts.every((text) => typeof text === 'string')) {
    throw new GatewayError(
      'UNSUPPORTED_BY_PROVIDER',
      'Gemini embeds text only: send `input` as a string or an array of strings.',
      { param: 'input' },
    )
  }
  if (
    dimensions !== undefined &&
    dimensions !== null &&
    (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1)
  ) {
    throw new GatewayError('INVALID_REQUEST', "Invalid 'dimensions': must be a positive integer.", {
      param: 'dimensions',
    })
  }
  if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') {
    throw new GatewayError(
      'INVALID_REQUEST',
      "Invalid 'encoding_format': must be 'float' or 'base64'.",
      { param: 'encoding_format' },
    )
  }
  const resource = resourceName(model)
  const requests = texts.map((text: string) =>
    typeof dimensions === 'number'
      ? { model: resource, content: { parts: [{ text }] }, outputDimensionality: dimensions }
      : { model: resource, content: { parts: [{ text }] } },
  )
  const dropped = Object.entries(body)
    .filter(([key, value]) => value !== undefined && value !== null && !TRANSLATED.has(key))
    .map(([key]) => key)
  return { request: { requests }, dropped }
}

/** A vector as OpenAI's base64 encoding: little-endian float32 bytes, base64. */
export const float32Base64 = (values: readonly number[]): string => {
  const view = new DataView(new ArrayBuffer(values.length * 4))
  values.forEach((value, i) => {
    view.setFloat32(i * 4, value, true)
  })
  const bytes = new Uint8Array(view.buffer)
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

export type EmbeddingContext = {
  /** The model name to report. */
  readonly model: string
  readonly base64: boolean
}

/** The OpenAI `CreateEmbeddingResponse` for Gemini's batch answer. */
export const toEmbeddingResponse = (
  response: BatchEmbedContentsResponse,
  context: EmbeddingContext,
): CreateEmbeddingResponse => {
  const embeddings = Array.isArray(response.embeddings) ? response.embeddings : []
  const data = embeddings.map((embedding, index): Embedding => {
    const values = Array.isArray(embedding.values) ? embedding.values : []
    return {
      object: 'embedding',
      index,
      // OpenAI's SDK decodes the base64 string itself; the type only knows the float form.
      embedding: (context.base64 ? float32Base64(values) : values) as number[],
    }
  })
  const meta = isRecord(response.usageMetadata) ? response.usageMetadata : {}
  const prompt = typeof meta.promptTokenCount === 'number' ? meta.promptTokenCount : 0
  const total = typeof meta.totalTokenCount === 'number' ? meta.totalTokenCount : prompt
  return {
    object: 'list',
    data,
    model: context.model,
    usage: { prompt_tokens: prompt, total_tokens: total },
  }
}
