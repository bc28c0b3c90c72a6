/**
 * @module The response cache's three tiers, over the ports (`stores/index.ts`): exact (one Redis
 * command on the first round trip), semantic (the nearest vector in Qdrant within the tenant and
 * scope, at the threshold) and bucketed (random-hyperplane LSH sets in Redis, re-ranked by exact
 * cosine at a lower threshold). Each tier is broader than the one before; a similarity hit is
 * served only through the contradiction guard (`guard.ts`), and only if its answer still exists.
 *
 * No I/O of its own beyond the ports, no clock of its own: the caller passes them in.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import type { CacheEntry, CacheStore, VectorStore } from '../stores'
import { cacheBucketKey, cacheEntryKey, cacheVectorKey } from '../stores/shared-keys'
import type { ParsedRequest } from '../types'
import { cosine } from './embedder'
import { contradicts } from './guard'
import { bandKeys, hyperplanes, signature, type Hyperplanes } from './lsh'
import { exactKeyText, type CacheScope, type SemanticQuery } from './request'

/** Bucket candidates re-ranked per lookup, at most. */
const MAX_CANDIDATES = 32

/** SHA-256 of `text`, lowercase hex (synchronous: the exact key is needed within one tick). */
export const hashText = (text: string): string => bytesToHex(sha256(utf8ToBytes(text)))

/** The exact tier's key of a request. */
export const exactKey = (scope: CacheScope, request: ParsedRequest): string =>
  cacheEntryKey(scope.orgId, scope.namespace, hashText(exactKeyText(scope, request)))

/** The semantic scope's hash: a payload filter in Qdrant, part of the bucket keys in Redis. */
export const scopeHash = (query: SemanticQuery): string => hashText(query.scopeText)

const planesByDimension = new Map<number, Hyperplanes>()

/** The LSH band keys of `vector` within the tenant, namespace and scope. */
export const bucketKeys = (scope: CacheScope, scopeId: string, vector: Float32Array): string[] => {
  let planes = planesByDimension.get(vector.length)
  if (planes === undefined) {
    planes = hyperplanes(vector.length)
    planesByDimension.set(vector.length, planes)
  }
  return bandKeys(signature(vector, planes)).map((band) =>
    cacheBucketKey(scope.orgId, scope.namespace, scopeId, band),
  )
}

export type SimilarHit = {
  readonly tier: 'semantic' | 'bucket'
  readonly key: string
  readonly entry: CacheEntry
  readonly similarity: number
}

export type SimilarLookup = {
  readonly scope: CacheScope
  readonly query: SemanticQuery
  readonly vector: Float32Array
  readonly now: number
  /** The semantic tier's threshold (organisation setting, raised by a request). */
  readonly threshold: number
  /** The bucketed tier's, when the plan has it; `undefined`: no bucketed tier. */
  readonly bucketThreshold: number | undefined
  /** Cleanup to run after the response (an expired point's removal). */
  readonly later: (work: Promise<unknown>) => void
}

/** A stored answer may serve `text` only if its own prompt does not contradict it. */
const agrees = (entry: CacheEntry, text: string): boolean =>
  entry.prompt !== undefined && !contradicts(entry.prompt, text)

const semanticHit = async (
  vectors: VectorStore,
  store: CacheStore,
  lookup: SimilarLookup,
  scopeId: string,
): Promise<SimilarHit | undefined> => {
  const nearest = await vectors.nearest(
    lookup.vector,
    { org: lookup.scope.orgId, scope: scopeId, now: lookup.now },
    lookup.threshold,
  )
  if (nearest === undefined) return undefined
  const entry = await store.get(nearest.entry)
  if (entry === undefined) {
    // Its answer has expired: the point is no answer either.
    lookup.later(vectors.remove(nearest.id))
    return undefined
  }
  return agrees(entry, lookup.query.text)
    ? { tier: 'semantic', key: nearest.entry, entry, similarity: nearest.score }
    : undefined
}

const bucketHit = async (
  store: CacheStore,
  lookup: SimilarLookup,
  scopeId: string,
  threshold: number,
): Promise<SimilarHit | undefined> => {
  const candidates = await store.candidates(
    bucketKeys(lookup.scope, scopeId, lookup.vector),
    MAX_CANDIDATES,
  )
  let best: SimilarHit | undefined
  for (const candidate of candidates) {
    if (candidate.entry === undefined || candidate.vector.length !== lookup.vector.length) continue
    const similarity = cosine(lookup.vector, candidate.vector)
    if (similarity < threshold || (best !== undefined && similarity <= best.similarity)) continue
    if (!agrees(candidate.entry, lookup.query.text)) continue
    best = { tier: 'bucket', key: candidate.entryKey, entry: candidate.entry, similarity }
  }
  return best
}

/**
 * The similarity tiers, concurrently (both need only the embedding): a semantic hit first, else a
 * bucketed one. A tier whose store fails is a miss for that tier; `onError` hears of it.
 */
export const similarLookup = async (
  ports: { readonly store: CacheStore; readonly vectors: VectorStore | undefined },
  lookup: SimilarLookup,
  onError: (tier: 'semantic' | 'bucket', err: unknown) => void,
): Promise<SimilarHit | undefined> => {
  const scopeId = scopeHash(lookup.query)
  const guarded = (tier: 'semantic' | 'bucket', work: () => Promise<SimilarHit | undefined>) =>
    work().catch((err: unknown) => {
      onError(tier, err)
      return undefined
    })
  const { vectors } = ports
  const [semantic, bucket] = await Promise.all([
    vectors === undefined
      ? undefined
      : guarded('semantic', () => semanticHit(vectors, ports.store, lookup, scopeId)),
    lookup.bucketThreshold === undefined
      ? undefined
      : guarded('bucket', () =>
          bucketHit(ports.store, lookup, scopeId, lookup.bucketThreshold ?? 1),
        ),
  ])
  return semantic ?? bucket
}

export type StoreRequest = {
  readonly scope: CacheScope
  readonly key: string
  readonly entry: CacheEntry
  readonly ttlSeconds: number
  readonly now: number
  /** The similarity tiers' part, when they ran for this request. */
  readonly similar:
    | { readonly query: SemanticQuery; readonly vector: Float32Array; readonly bucketed: boolean }
    | undefined
}

/** Stores an answer in every tier that applies (after the response). */
export const storeAnswer = async (
  ports: { readonly store: CacheStore; readonly vectors: VectorStore | undefined },
  request: StoreRequest,
): Promise<void> => {
  const { scope, key, entry, ttlSeconds, similar } = request
  await ports.store.put(key, entry, ttlSeconds)
  if (similar === undefined) return
  const scopeId = scopeHash(similar.query)
  const id = crypto.randomUUID()
  const work: Promise<void>[] = []
  if (ports.vectors !== undefined) {
    work.push(
      ports.vectors.upsert({
        id,
        vector: similar.vector,
        payload: {
          org: scope.orgId,
          namespace: scope.namespace,
          scope: scopeId,
          expires_at: Math.floor(request.now / 1000) + ttlSeconds,
          entry: key,
        },
      }),
    )
  }
  if (similar.bucketed) {
    work.push(
      ports.store.addToBuckets(
        cacheVectorKey(scope.orgId, scope.namespace, id),
        bucketKeys(scope, scopeId, similar.vector),
        similar.vector,
        key,
        ttlSeconds,
      ),
    )
  }
  await Promise.all(work)
}
