/**
 * The cache's tiers over in-memory ports: the exact key names the organisation and namespace and
 * hashes the request's key text; a similarity hit is served only through the contradiction guard
 * and only while its answer exists (a point whose answer is gone is a miss, and its removal is
 * scheduled); the bucketed tier answers at 0.90 only when the plan has it; the semantic tier wins
 * over the bucketed one; a failing store is a miss for its own tier only; and storing writes the
 * entry, a Qdrant-style point, and bucket entries only when bucketed.
 */
import { describe, expect, it, vi } from 'vitest'
import { seededRandom } from '../../test/support/unit'
import type { CacheEntry, CacheStore, VectorStore } from '../stores'
import { memoryCacheStore } from '../stores/embedded/cache-store'
import { memoryVectorStore } from '../stores/embedded/vector-store'
import { cacheEntryKey, cacheVectorKey } from '../stores/shared-keys'
import type { ParsedRequest } from '../types'
import { cosine } from './embedder'
import { contradicts } from './guard'
import { sharesBand } from './lsh'
import { BUCKET_THRESHOLD, DEFAULT_THRESHOLD } from './policy'
import { exactKeyText, semanticQuery, type CacheScope, type SemanticQuery } from './request'
import {
  bucketKeys,
  exactKey,
  hashText,
  scopeHash,
  similarLookup,
  storeAnswer,
  type SimilarHit,
  type SimilarLookup,
} from './tiers'

const SCOPE: CacheScope = { orgId: 'org_1', namespace: 'default', extra: {} }
const NOW = 1_700_000_000_000

const chat = (body: Record<string, unknown>): ParsedRequest => ({
  kind: 'chat',
  body,
  model: 'openai/gpt-4o-mini',
  stream: body.stream === true,
  includeUsage: false,
})

const ask = (text: string, system = 'Answer briefly.') =>
  chat({
    model: 'openai/gpt-4o-mini',
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: text },
    ],
  })

const queryFor = (text: string, system?: string, scope: CacheScope = SCOPE): SemanticQuery => {
  const query = semanticQuery(scope, ask(text, system))
  if (query === undefined) throw new Error('expected a semantic query')
  return query
}

const entry = (prompt: string | undefined, body = 'answer'): CacheEntry => ({
  body,
  storedAt: NOW,
  prompt,
  provider: 'openai',
  model: 'gpt-4o-mini',
  usage: undefined,
})

// Seeded vectors: a unit `BASE`, and unit vectors at an exact cosine from it.
const DIMENSIONS = 32
const random = seededRandom(20_260_310)
const gaussian = (): number => {
  let sum = 0
  for (let k = 0; k < 12; k++) sum += random()
  return sum - 6
}
const unit = (v: number[]): number[] => {
  const n = Math.hypot(...v)
  return v.map((x) => x / n)
}
const BASE = unit(Array.from({ length: DIMENSIONS }, gaussian))
const ORTHOGONAL = (() => {
  const w = Array.from({ length: DIMENSIONS }, gaussian)
  const along = w.reduce((sum, x, i) => sum + x * (BASE[i] ?? 0), 0)
  return unit(w.map((x, i) => x - along * (BASE[i] ?? 0)))
})()
/** A unit vector at cosine `cos` from `BASE`. */
const near = (cos: number): Float32Array =>
  Float32Array.from(BASE.map((x, i) => cos * x + Math.sqrt(1 - cos * cos) * (ORTHOGONAL[i] ?? 0)))

type Ports = { store: CacheStore; vectors: VectorStore | undefined }

const ports = (vectors = true): Ports => ({
  store: memoryCacheStore(() => NOW),
  vectors: vectors ? memoryVectorStore() : undefined,
})

const lookupOf = (
  text: string,
  vector: Float32Array,
  options: Partial<SimilarLookup> = {},
): SimilarLookup => ({
  scope: SCOPE,
  query: queryFor(text),
  vector,
  now: NOW,
  threshold: DEFAULT_THRESHOLD,
  bucketThreshold: undefined,
  later: () => undefined,
  ...options,
})

/** Stores `prompt`'s answer under `key` in every tier `p` has (bucketed when asked). */
const remember = async (
  p: Ports,
  key: string,
  prompt: string,
  vector: Float32Array,
  bucketed: boolean,
  ttlSeconds = 600,
): Promise<void> => {
  await storeAnswer(p, {
    scope: SCOPE,
    key,
    entry: entry(prompt, `answer to ${prompt}`),
    ttlSeconds,
    now: NOW,
    similar: { query: queryFor(prompt), vector, bucketed },
  })
}

const noErrors = (tier: string, err: unknown): void => {
  throw new Error(`unexpected ${tier} failure: ${String(err)}`)
}

const PROMPT = 'What is the capital of France?'
const PARAPHRASE = 'What’s the capital city of France?'

describe('the fixtures', () => {
  it('should have vectors at the cosines the tests name, sharing a band with BASE', () => {
    const base = Float32Array.from(BASE)
    const scopeId = scopeHash(queryFor(PROMPT))
    for (const cos of [0.999, 0.97, 0.96, 0.93]) {
      expect(cosine(base, near(cos))).toBeCloseTo(cos, 5)
      expect(
        sharesBand(bucketKeys(SCOPE, scopeId, base), bucketKeys(SCOPE, scopeId, near(cos))),
        `cos ${String(cos)}`,
      ).toBe(true)
    }
    expect(contradicts(PROMPT, PARAPHRASE)).toBe(false)
    expect(queryFor(PARAPHRASE).scopeText).toBe(queryFor(PROMPT).scopeText)
  })
})

describe('exactKey', () => {
  it('should be the entry key of the organisation and namespace, by SHA-256 of the key text', () => {
    const request = ask(PROMPT)
    const key = exactKey(SCOPE, request)
    expect(key).toMatch(/^floopy:cache:org_1:default:e:[0-9a-f]{64}$/)
    expect(key).toBe(cacheEntryKey('org_1', 'default', hashText(exactKeyText(SCOPE, request))))
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    expect(hashText('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('should be the same for a streamed and a non-streamed request', () => {
    const plain = ask(PROMPT)
    const streamed = chat({ ...plain.body, stream: true, stream_options: { include_usage: true } })
    expect(exactKey(SCOPE, streamed)).toBe(exactKey(SCOPE, plain))
  })

  it('should change with the organisation, the namespace, the extra scope and the request', () => {
    const key = exactKey(SCOPE, ask(PROMPT))
    expect(exactKey({ ...SCOPE, orgId: 'org_2' }, ask(PROMPT))).toMatch(
      /^floopy:cache:org_2:default:e:/,
    )
    expect(exactKey({ ...SCOPE, namespace: 'eu' }, ask(PROMPT))).toMatch(
      /^floopy:cache:org_1:eu:e:/,
    )
    expect(exactKey({ ...SCOPE, extra: { firewall: true } }, ask(PROMPT))).not.toBe(key)
    expect(exactKey(SCOPE, ask(PARAPHRASE))).not.toBe(key)
    expect(exactKey(SCOPE, chat({ ...ask(PROMPT).body, temperature: 0 }))).not.toBe(key)
  })
})

describe('similarLookup', () => {
  describe('the semantic tier', () => {
    it('should answer the nearest point’s entry at or above the threshold', async () => {
      const p = ports()
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false)
      const hit = await similarLookup(p, lookupOf(PARAPHRASE, near(0.97)), noErrors)
      expect(hit).toMatchObject({
        tier: 'semantic',
        key: 'k1',
        entry: entry(PROMPT, `answer to ${PROMPT}`),
      })
      expect(hit?.similarity).toBeCloseTo(0.97, 5)
    })

    it('should answer nothing below the threshold', async () => {
      const p = ports()
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false)
      expect(await similarLookup(p, lookupOf(PARAPHRASE, near(0.93)), noErrors)).toBeUndefined()
      expect(
        await similarLookup(p, lookupOf(PARAPHRASE, near(0.97), { threshold: 0.98 }), noErrors),
      ).toBeUndefined()
    })

    it('should answer only through the contradiction guard', async () => {
      const p = ports()
      await remember(p, 'k1', 'Turn on dark mode', Float32Array.from(BASE), false)
      expect(contradicts('Turn on dark mode', 'Turn off dark mode')).toBe(true)
      expect(
        await similarLookup(p, lookupOf('Turn off dark mode', Float32Array.from(BASE)), noErrors),
      ).toBeUndefined()
      expect(
        await similarLookup(p, lookupOf('Turn on dark mode', Float32Array.from(BASE)), noErrors),
      ).toMatchObject({ tier: 'semantic', key: 'k1' })
    })

    it('should not serve an entry that records no prompt to compare', async () => {
      const p = ports()
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false)
      await p.store.put('k1', entry(undefined), 600)
      expect(
        await similarLookup(p, lookupOf(PROMPT, Float32Array.from(BASE)), noErrors),
      ).toBeUndefined()
    })

    it('should not answer across scopes or organisations', async () => {
      const p = ports()
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false)
      const vector = Float32Array.from(BASE)
      const otherSystem = lookupOf(PROMPT, vector, { query: queryFor(PROMPT, 'Be verbose.') })
      expect(await similarLookup(p, otherSystem, noErrors)).toBeUndefined()
      const otherOrg: CacheScope = { ...SCOPE, orgId: 'org_2' }
      expect(
        await similarLookup(
          p,
          lookupOf(PROMPT, vector, {
            scope: otherOrg,
            query: queryFor(PROMPT, undefined, otherOrg),
          }),
          noErrors,
        ),
      ).toBeUndefined()
    })

    it('should miss when the point’s answer is gone, and schedule the point’s removal', async () => {
      const p = ports()
      const vectors = p.vectors ?? memoryVectorStore()
      const remove = vi.spyOn(vectors, 'remove')
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false)
      await p.store.remove('k1')
      const later: Promise<unknown>[] = []
      const hit = await similarLookup(
        p,
        lookupOf(PROMPT, Float32Array.from(BASE), { later: (work) => later.push(work) }),
        noErrors,
      )
      expect(hit).toBeUndefined()
      expect(later).toHaveLength(1)
      expect(remove).toHaveBeenCalledTimes(1)
      await Promise.all(later)
      expect(
        await vectors.nearest(
          Float32Array.from(BASE),
          { org: 'org_1', scope: scopeHash(queryFor(PROMPT)), now: NOW },
          0.5,
        ),
      ).toBeUndefined()
    })

    it('should miss when the point’s answer has expired in the store', async () => {
      let clock = NOW
      const p: Ports = { store: memoryCacheStore(() => clock), vectors: memoryVectorStore() }
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), false, 60)
      clock += 60_000
      const later: Promise<unknown>[] = []
      // The point itself is asked about before its own expiry.
      const hit = await similarLookup(
        p,
        lookupOf(PROMPT, Float32Array.from(BASE), { later: (work) => later.push(work) }),
        noErrors,
      )
      expect(hit).toBeUndefined()
      expect(later).toHaveLength(1)
    })
  })

  describe('the bucketed tier', () => {
    it('should answer at 0.90 and above when the plan has it', async () => {
      expect(BUCKET_THRESHOLD).toBe(0.9)
      const p = ports(false)
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), true)
      const hit = await similarLookup(
        p,
        lookupOf(PARAPHRASE, near(0.93), { bucketThreshold: BUCKET_THRESHOLD }),
        noErrors,
      )
      expect(hit).toMatchObject({ tier: 'bucket', key: 'k1' })
      expect(hit?.similarity).toBeCloseTo(0.93, 5)
    })

    it('should answer nothing below its threshold', async () => {
      const p = ports(false)
      // Filed in the query's own bands: a candidate for certain, judged by its cosine alone.
      const bands = bucketKeys(SCOPE, scopeHash(queryFor(PROMPT)), Float32Array.from(BASE))
      await p.store.put('k1', entry(PROMPT), 600)
      await p.store.addToBuckets('v1', bands, near(0.89), 'k1', 600)
      const lookup = (threshold: number) =>
        similarLookup(
          p,
          lookupOf(PARAPHRASE, Float32Array.from(BASE), { bucketThreshold: threshold }),
          noErrors,
        )
      expect(await lookup(BUCKET_THRESHOLD)).toBeUndefined()
      expect(await lookup(0.88)).toMatchObject({ tier: 'bucket', key: 'k1' })
    })

    it('should not run without a bucket threshold', async () => {
      const p = ports(false)
      const candidates = vi.spyOn(p.store, 'candidates')
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), true)
      expect(await similarLookup(p, lookupOf(PARAPHRASE, near(0.999)), noErrors)).toBeUndefined()
      expect(candidates).not.toHaveBeenCalled()
    })

    it('should answer only through the contradiction guard', async () => {
      const p = ports(false)
      await remember(p, 'k1', 'Turn on dark mode', Float32Array.from(BASE), true)
      expect(
        await similarLookup(
          p,
          lookupOf('Turn off dark mode', Float32Array.from(BASE), {
            bucketThreshold: BUCKET_THRESHOLD,
          }),
          noErrors,
        ),
      ).toBeUndefined()
    })

    it('should answer the most similar candidate that agrees, skipping other dimensions', async () => {
      const p = ports(false)
      const scopeId = scopeHash(queryFor(PROMPT))
      const bands = bucketKeys(SCOPE, scopeId, Float32Array.from(BASE))
      await p.store.put('far', entry(PROMPT, 'far'), 600)
      await p.store.put('close', entry(PROMPT, 'close'), 600)
      await p.store.put('closest-but-contradicts', entry('What is not the capital of France?'), 600)
      await p.store.put('short', entry(PROMPT, 'short'), 600)
      await p.store.addToBuckets('v-far', bands, near(0.93), 'far', 600)
      await p.store.addToBuckets('v-close', bands, near(0.97), 'close', 600)
      await p.store.addToBuckets('v-contra', bands, near(0.999), 'closest-but-contradicts', 600)
      await p.store.addToBuckets('v-short', bands, Float32Array.of(1, 0), 'short', 600)
      expect(contradicts('What is not the capital of France?', PROMPT)).toBe(true)
      const hit = await similarLookup(
        p,
        lookupOf(PROMPT, Float32Array.from(BASE), { bucketThreshold: BUCKET_THRESHOLD }),
        noErrors,
      )
      expect(hit).toMatchObject({ tier: 'bucket', key: 'close' })
    })

    it('should skip a candidate whose entry has expired', async () => {
      const p = ports(false)
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), true)
      await p.store.remove('k1')
      expect(
        await similarLookup(
          p,
          lookupOf(PROMPT, Float32Array.from(BASE), { bucketThreshold: BUCKET_THRESHOLD }),
          noErrors,
        ),
      ).toBeUndefined()
    })
  })

  it('should prefer a semantic hit over a closer bucketed one', async () => {
    const p = ports()
    const vectors = p.vectors ?? memoryVectorStore()
    const scopeId = scopeHash(queryFor(PROMPT))
    await p.store.put('semantic', entry(PROMPT, 'semantic'), 600)
    await p.store.put('bucket', entry(PROMPT, 'bucket'), 600)
    await vectors.upsert({
      id: 'point',
      vector: near(0.96),
      payload: {
        org: 'org_1',
        namespace: 'default',
        scope: scopeId,
        expires_at: NOW / 1000 + 600,
        entry: 'semantic',
      },
    })
    const vector = Float32Array.from(BASE)
    await p.store.addToBuckets('v', bucketKeys(SCOPE, scopeId, vector), vector, 'bucket', 600)
    const lookup = lookupOf(PROMPT, vector, { bucketThreshold: BUCKET_THRESHOLD })
    expect(await similarLookup(p, lookup, noErrors)).toMatchObject({
      tier: 'semantic',
      key: 'semantic',
    })
    expect(await similarLookup({ ...p, vectors: undefined }, lookup, noErrors)).toMatchObject({
      tier: 'bucket',
      key: 'bucket',
    })
  })

  describe('a failing store', () => {
    const setUp = async () => {
      const p = ports()
      await remember(p, 'k1', PROMPT, Float32Array.from(BASE), true)
      const errors: [string, unknown][] = []
      const onError = (tier: string, err: unknown): void => {
        errors.push([tier, err])
      }
      const lookup = lookupOf(PROMPT, Float32Array.from(BASE), {
        bucketThreshold: BUCKET_THRESHOLD,
      })
      return { p, errors, onError, lookup }
    }

    it('should be a miss for the semantic tier only when Qdrant fails', async () => {
      const { p, errors, onError, lookup } = await setUp()
      const down = new Error('qdrant down')
      const vectors = p.vectors ?? memoryVectorStore()
      vi.spyOn(vectors, 'nearest').mockRejectedValue(down)
      const hit: SimilarHit | undefined = await similarLookup(p, lookup, onError)
      expect(hit).toMatchObject({ tier: 'bucket', key: 'k1' })
      expect(errors).toEqual([['semantic', down]])
    })

    it('should be a miss for the bucketed tier only when its script fails', async () => {
      const { p, errors, onError, lookup } = await setUp()
      const down = new Error('redis down')
      vi.spyOn(p.store, 'candidates').mockRejectedValue(down)
      expect(await similarLookup(p, lookup, onError)).toMatchObject({ tier: 'semantic', key: 'k1' })
      expect(errors).toEqual([['bucket', down]])
    })

    it('should be a miss for the semantic tier when its entry cannot be read', async () => {
      const { p, errors, onError, lookup } = await setUp()
      const down = new Error('redis down')
      vi.spyOn(p.store, 'get').mockRejectedValue(down)
      expect(await similarLookup(p, lookup, onError)).toMatchObject({ tier: 'bucket', key: 'k1' })
      expect(errors).toEqual([['semantic', down]])
    })

    it('should be a miss, heard of twice, when both fail', async () => {
      const { p, errors, onError, lookup } = await setUp()
      vi.spyOn(p.vectors ?? memoryVectorStore(), 'nearest').mockRejectedValue(new Error('a'))
      vi.spyOn(p.store, 'candidates').mockRejectedValue(new Error('b'))
      expect(await similarLookup(p, lookup, onError)).toBeUndefined()
      expect(errors.map(([tier]) => tier).sort()).toEqual(['bucket', 'semantic'])
    })
  })
})

describe('storeAnswer', () => {
  const spied = (withVectors: boolean) => {
    const p = ports(withVectors)
    return {
      p,
      put: vi.spyOn(p.store, 'put'),
      addToBuckets: vi.spyOn(p.store, 'addToBuckets'),
      upsert: p.vectors === undefined ? undefined : vi.spyOn(p.vectors, 'upsert'),
    }
  }

  it('should write only the entry when the similarity tiers did not run', async () => {
    const { p, put, addToBuckets, upsert } = spied(true)
    await storeAnswer(p, {
      scope: SCOPE,
      key: 'k1',
      entry: entry(undefined),
      ttlSeconds: 600,
      now: NOW,
      similar: undefined,
    })
    expect(put).toHaveBeenCalledWith('k1', entry(undefined), 600)
    expect(await p.store.get('k1')).toEqual(entry(undefined))
    expect(upsert).not.toHaveBeenCalled()
    expect(addToBuckets).not.toHaveBeenCalled()
  })

  it('should write the entry and a point naming the organisation, namespace, scope, expiry and entry', async () => {
    const { p, put, addToBuckets, upsert } = spied(true)
    const scope: CacheScope = { ...SCOPE, namespace: 'eu' }
    const query = queryFor(PROMPT, undefined, scope)
    const vector = Float32Array.from(BASE)
    await storeAnswer(p, {
      scope,
      key: 'k1',
      entry: entry(PROMPT),
      ttlSeconds: 3600,
      now: NOW + 999,
      similar: { query, vector, bucketed: false },
    })
    expect(put).toHaveBeenCalledWith('k1', entry(PROMPT), 3600)
    expect(upsert).toHaveBeenCalledTimes(1)
    const point = upsert?.mock.calls[0]?.[0]
    expect(point?.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    expect(point?.vector).toEqual(vector)
    expect(point?.payload).toEqual({
      org: 'org_1',
      namespace: 'eu',
      scope: scopeHash(query),
      expires_at: Math.floor((NOW + 999) / 1000) + 3600,
      entry: 'k1',
    })
    expect(addToBuckets).not.toHaveBeenCalled()
  })

  it('should file the vector in its buckets, beside its point, when bucketed', async () => {
    const { p, addToBuckets, upsert } = spied(true)
    const query = queryFor(PROMPT)
    const vector = Float32Array.from(BASE)
    await storeAnswer(p, {
      scope: SCOPE,
      key: 'k1',
      entry: entry(PROMPT),
      ttlSeconds: 600,
      now: NOW,
      similar: { query, vector, bucketed: true },
    })
    const id = upsert?.mock.calls[0]?.[0].id ?? ''
    expect(addToBuckets).toHaveBeenCalledWith(
      cacheVectorKey('org_1', 'default', id),
      bucketKeys(SCOPE, scopeHash(query), vector),
      vector,
      'k1',
      600,
    )
  })

  it('should file bucket entries without a semantic tier', async () => {
    const { p, addToBuckets } = spied(false)
    await storeAnswer(p, {
      scope: SCOPE,
      key: 'k1',
      entry: entry(PROMPT),
      ttlSeconds: 600,
      now: NOW,
      similar: { query: queryFor(PROMPT), vector: Float32Array.from(BASE), bucketed: true },
    })
    expect(addToBuckets).toHaveBeenCalledTimes(1)
    expect(addToBuckets.mock.calls[0]?.[0]).toMatch(/^floopy:cache:org_1:default:v:/)
  })

  it('should give each stored answer its own point', async () => {
    const { p, upsert } = spied(true)
    for (const key of ['k1', 'k2']) {
      await storeAnswer(p, {
        scope: SCOPE,
        key,
        entry: entry(PROMPT),
        ttlSeconds: 600,
        now: NOW,
        similar: { query: queryFor(PROMPT), vector: Float32Array.from(BASE), bucketed: false },
      })
    }
    const ids = upsert?.mock.calls.map(([point]) => point.id)
    expect(new Set(ids).size).toBe(2)
  })
})
