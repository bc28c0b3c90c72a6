/**
 * @module The response cache (checkpoint 8): exact, then semantic, then bucketed (`cache/`).
 *
 * - **Exact**: the key is computed on the request as it will be sent (after the prompt stage),
 *   and the lookup is a part of the first round trip (`exactLookup`): an exact hit or miss costs
 *   no round trip of its own. A prompted request rides it too when its template is memoised.
 * - **Semantic and bucketed** (chat only, when the last message is user text): one embedding of
 *   that message, then the Qdrant query and the LSH script concurrently; a hit only through the
 *   contradiction guard. The embedding stays on the request (`c.var.embedding`) for the firewall.
 * - **Miss**: the answer's tap stores it after the response, if it is complete (`cache/entry.ts`).
 *
 * Answers: `floopy-cache: HIT | MISS | BYPASS | REFRESH`; on a hit `floopy-cache-tier`, `Age`,
 * and for the similarity tiers `floopy-cache-similarity`. A hit is served as the stored body, or
 * as an OpenAI SSE stream when the request streams (`cache/replay.ts`).
 *
 * Failure policy: Redis, Qdrant or the embedding provider failing or slow (each bounded by its
 * time limit) is a miss and a throttled loud log line — never an error, never a longer wait.
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { Embedder } from '../../cache/embed'
import { MAX_ENTRY_BYTES, servedFrom, storableAnswer } from '../../cache/entry'
import { BUCKET_THRESHOLD, cachePolicy, type CachePolicy } from '../../cache/policy'
import { semanticQuery, type CacheScope, type SemanticQuery } from '../../cache/request'
import { exactKey, similarLookup, storeAnswer, type SimilarHit } from '../../cache/tiers'
import type { StageEnv } from '../../env'
import { firewallOn } from '../../firewall/check'
import { alarm, describeError } from '../../logging/alarm'
import { applyPrompt } from '../../prompts/apply'
import type { PromptResolver } from '../../prompts/resolver'
import type { CacheEntry, CacheStore, VectorStore } from '../../stores'
import type { AnswerEnd } from '../../types'
import { afterResponse } from '../after-response'
import type { AuthVariables } from '../authenticate'
import type { RoundTripPart } from '../first-round-trip'
import { toParsedRequest, type ParsedVariables } from '../parse-request'
import { PROMPT_ID_HEADER, PROMPT_VERSION_HEADER, inputsOf } from '../prompt'

/** What the exact-lookup part sets: the key it looked up, for which request, and the answer. */
export type CacheLookupVariables = {
  cacheLookup: {
    readonly key: string
    /** The prompt version the key was computed for (`''`: no prompt). */
    readonly basis: string
    readonly answer: Promise<CacheEntry | undefined>
  }
}

/** What this stage sets for later stages: the request's one embedding, when it was made. */
export type EmbeddingVariables = {
  embedding: { readonly text: string; readonly vector: Float32Array }
  /** The text an embedding was asked for, made or not: no later stage asks again. */
  embeddingTried: string
}

export type CacheServices = {
  readonly store: CacheStore
  /** The semantic tier (Qdrant, or memory); `undefined`: no semantic tier. */
  readonly vectors: VectorStore | undefined
  /** The similarity tiers' embedder; `undefined`: exact tier only. */
  readonly embedder: Embedder | undefined
  /** Time limits of the embedding call and of the similarity lookups, in ms. */
  readonly embedTimeoutMs: number
  readonly lookupTimeoutMs: number
}

/** The plan flag that turns the bucketed tier on. */
export const BUCKETED_FLAG = 'has_advanced_cache'

type CacheEnv = StageEnv<
  AuthVariables & ParsedVariables & Partial<CacheLookupVariables> & Partial<EmbeddingVariables>
>

const basisOf = (request: { prompt: { id: string; version: number } | undefined }): string =>
  request.prompt === undefined ? '' : `${request.prompt.id}@${String(request.prompt.version)}`

/** The cache's scope: the organisation, the namespace, and whether the firewall checks the
 * request (an answer stored without it is never served to a request with it). */
const scopeOf = (
  orgId: string,
  policy: CachePolicy,
  headers: Headers,
  features: Readonly<Record<string, unknown>>,
): CacheScope => ({
  orgId,
  namespace: policy.namespace,
  extra: firewallOn(headers, features) ? { firewall: true } : {},
})

/**
 * The first round trip's exact lookup, when the request caches: its key computed on the request
 * as the prompt stage will leave it (a prompted request only when its template is memoised, so
 * no I/O happens here). Anything doubtful is left to the stage, which checks it again.
 */
export const exactLookup = ({
  store,
  prompts,
}: {
  readonly store: CacheStore
  readonly prompts: PromptResolver
}): RoundTripPart<AuthVariables & ParsedVariables & CacheLookupVariables> => ({
  contribute(c, batch) {
    const tenant = c.get('tenant')
    let request = c.get('request')
    const { headers } = c
    let policy: CachePolicy | undefined
    try {
      policy = cachePolicy(headers, tenant.org.settings, tenant.keySettings)
    } catch {
      return // the stage refuses the request
    }
    if (policy === undefined || !policy.lookup) return
    let basis = ''
    const promptId = headers.get(PROMPT_ID_HEADER)
    if (promptId !== null) {
      if (request.kind !== 'chat') return
      const resolved = prompts.peek(
        tenant.orgId,
        promptId,
        headers.get(PROMPT_VERSION_HEADER) ?? undefined,
      )
      if (resolved === undefined || resolved === null) return
      try {
        const applied = applyPrompt(resolved, request.body, inputsOf(request.body))
        if (!applied.ok) return
        request = toParsedRequest('chat', applied.body)
      } catch {
        return
      }
      basis = `${resolved.prompt_id}@${String(resolved.version)}`
    }
    const key = exactKey(scopeOf(tenant.orgId, policy, headers, tenant.org.features), request)
    c.set('cacheLookup', { key, basis, answer: batch.add(() => store.get(key)) })
  },
})

/** Rejects after `ms`: a slow store is a miss, never a longer wait. */
export const within = <T>(work: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${String(ms)} ms`))
    }, ms)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })

/** The stored answer as this request's response. */
const hitResponse = (
  c: Context<CacheEnv>,
  key: string,
  entry: CacheEntry,
  tier: 'exact' | SimilarHit['tier'],
  similarity: number | undefined,
): Response | undefined => {
  const request = c.get('request')
  const served = servedFrom(entry, request)
  if (served === undefined) return undefined
  const trace = c.get('trace')
  trace.cache = 'HIT'
  trace.cacheTier = tier
  trace.cachedAnswer = { provider: entry.provider, model: entry.model, usage: entry.usage }
  trace.cacheEntry = key
  const headers = new Headers({
    'content-type': served.contentType,
    'floopy-cache': 'HIT',
    'floopy-cache-tier': tier,
    age: String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))),
    'floopy-provider': entry.provider,
    'floopy-model': entry.model,
  })
  if (similarity !== undefined) headers.set('floopy-cache-similarity', similarity.toFixed(4))
  if (request.stream) {
    headers.set('cache-control', 'no-cache')
    headers.set('x-accel-buffering', 'no')
  }
  return new Response(served.body, { status: 200, headers })
}

export const cache = (services: CacheServices): MiddlewareHandler<CacheEnv> => {
  const serve = async (
    c: Context<CacheEnv>,
    next: Next,
    policy: CachePolicy,
  ): Promise<Response | undefined> => {
    const tenant = c.get('tenant')
    const trace = c.get('trace')
    const request = c.get('request')
    const scope = scopeOf(tenant.orgId, policy, c.req.raw.headers, tenant.org.features)
    const warn = (what: string, err: unknown): void => {
      alarm(`response cache ${what} failed: a miss`, { error: describeError(err) })
    }

    // Exact: the first round trip's answer when it was for this request, else a lookup now.
    const rode = c.get('cacheLookup')
    const key = rode?.basis === basisOf(trace) ? rode.key : exactKey(scope, request)
    if (policy.lookup) {
      const found = await (rode?.key === key ? rode.answer : services.store.get(key)).catch(
        (err: unknown) => {
          warn('exact lookup', err)
          return undefined
        },
      )
      const hit = found === undefined ? undefined : hitResponse(c, key, found, 'exact', undefined)
      if (hit !== undefined) return hit
    }

    // Semantic and bucketed: one embedding, then both tiers at once.
    const query: SemanticQuery | undefined =
      services.embedder === undefined ? undefined : semanticQuery(scope, request)
    let vector: Float32Array | undefined
    if (query !== undefined && services.embedder !== undefined) {
      c.set('embeddingTried', query.text)
      vector = await within(
        services.embedder.embed(query.text, c.get('requestId'), services.embedTimeoutMs),
        services.embedTimeoutMs,
        'embedding',
      ).catch((err: unknown) => {
        warn('embedding', err)
        return undefined
      })
      if (vector !== undefined) c.set('embedding', { text: query.text, vector })
    }
    const bucketed = tenant.org.features[BUCKETED_FLAG] === true
    if (policy.lookup && query !== undefined && vector !== undefined) {
      const hit = await within(
        similarLookup(
          services,
          {
            scope,
            query,
            vector,
            now: Date.now(),
            threshold: policy.threshold,
            bucketThreshold: bucketed ? BUCKET_THRESHOLD : undefined,
            later: (work) => {
              afterResponse(
                c,
                work.catch(() => undefined),
              )
            },
          },
          (tier, err) => {
            warn(`${tier} lookup`, err)
          },
        ),
        services.lookupTimeoutMs,
        'similarity lookup',
      ).catch((err: unknown) => {
        warn('similarity lookup', err)
        return undefined
      })
      const served =
        hit === undefined ? undefined : hitResponse(c, hit.key, hit.entry, hit.tier, hit.similarity)
      if (served !== undefined) return served
    }

    trace.cache = policy.status
    let stored: Promise<AnswerEnd> | undefined
    if (policy.store) {
      stored = new Promise<AnswerEnd>((resolve) => {
        c.get('taps').push({ headBytes: MAX_ENTRY_BYTES + 1, end: resolve })
      })
    }
    await next()
    c.res.headers.set('floopy-cache', policy.status)
    // Only an answer handed to the client tells its taps it ended. An answer the firewall could
    // not check is not stored: it would be served, unchecked, to requests that asked for the check.
    if (stored === undefined || trace.exchange?.answered !== true) return
    if (trace.firewall === 'ERROR') return
    const exchange = trace.exchange
    const similar =
      query === undefined || vector === undefined ? undefined : { query, vector, bucketed }
    afterResponse(
      c,
      stored
        .then(async (ended) => {
          const answer = storableAnswer(request.kind, request.stream, ended)
          if (answer === undefined) return
          await storeAnswer(services, {
            scope,
            key,
            ttlSeconds: policy.ttlSeconds,
            now: Date.now(),
            similar,
            entry: {
              body: answer.body,
              storedAt: Date.now(),
              prompt: query?.text,
              provider: exchange.target.provider.spec.id,
              model: exchange.target.model,
              usage: answer.usage,
            },
          })
        })
        .catch((err: unknown) => {
          warn('store', err)
        }),
    )
  }
  // Not `async`: a request the cache is off for costs no promise here.
  return function cache(c, next) {
    const { org, keySettings } = c.get('tenant')
    const policy = cachePolicy(c.req.raw.headers, org.settings, keySettings)
    return policy === undefined ? next() : serve(c, next, policy)
  }
}
