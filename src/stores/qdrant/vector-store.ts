/**
 * @module Vectors in Qdrant, through `@qdrant/js-client-rest`: one collection per embedding model
 * and dimension (`cacheCollection`), created on first use with cosine distance and payload
 * indexes on the fields every query filters on (`org` as the tenant key, `scope`, `namespace`,
 * `expires_at`). Tenancy and scope are payload filters, never text mixed into what is embedded.
 *
 * One client per isolate and configuration, with the version check off (it would cost a request
 * per new client) and a time limit per request; every failure throws, for the caller's policy.
 */
import { QdrantClient } from '@qdrant/js-client-rest'
import type { VectorStore } from '..'

export type QdrantConfig = { readonly url: string; readonly apiKey: string | undefined }

/** Payload fields and their index types (Qdrant `PayloadSchemaType`). */
const INDEXES = [
  ['org', 'keyword'],
  ['scope', 'keyword'],
  ['namespace', 'keyword'],
  ['expires_at', 'integer'],
] as const

export type CollectionNamer = (dimensions: number) => string

export const qdrantVectorStore = (
  { url, apiKey }: QdrantConfig,
  collectionFor: CollectionNamer,
  timeoutMs: number,
): VectorStore => {
  const client = new QdrantClient({
    url,
    ...(apiKey === undefined ? {} : { apiKey }),
    checkCompatibility: false,
    timeout: timeoutMs,
  })
  /** Collections known to exist (with their indexes), by name: checked once per isolate. */
  const ready = new Map<string, Promise<void>>()

  const ensure = (name: string, dimensions: number): Promise<void> => {
    let known = ready.get(name)
    if (known === undefined) {
      known = (async () => {
        const { exists } = await client.collectionExists(name)
        if (exists) return
        await client.createCollection(name, { vectors: { size: dimensions, distance: 'Cosine' } })
        for (const [field_name, field_schema] of INDEXES) {
          await client.createPayloadIndex(name, { field_name, field_schema, wait: true })
        }
      })()
      // A failure is retried by the next request, not remembered.
      known.catch(() => ready.delete(name))
      ready.set(name, known)
    }
    return known
  }

  return {
    async nearest(vector, { org, scope, now }, threshold) {
      const name = collectionFor(vector.length)
      await ensure(name, vector.length)
      const { points } = await client.query(name, {
        query: Array.from(vector),
        filter: {
          must: [
            { key: 'org', match: { value: org } },
            { key: 'scope', match: { value: scope } },
            { key: 'expires_at', range: { gt: Math.floor(now / 1000) } },
          ],
        },
        score_threshold: threshold,
        limit: 1,
        with_payload: ['entry'],
      })
      const [best] = points
      const entry = best?.payload?.entry
      return best === undefined || typeof entry !== 'string'
        ? undefined
        : { id: String(best.id), score: best.score, entry }
    },
    async upsert(point) {
      const name = collectionFor(point.vector.length)
      await ensure(name, point.vector.length)
      await client.upsert(name, {
        wait: false,
        points: [{ id: point.id, vector: Array.from(point.vector), payload: point.payload }],
      })
    },
    async remove(id) {
      // The id names the point in whichever collection holds it: try each one known here.
      await Promise.all(
        [...ready.keys()].map((name) => client.delete(name, { wait: false, points: [id] })),
      )
    },
  }
}
