/**
 * @module The LLM firewall (checkpoint 9): a safety model judges the prompt before any provider
 * sees it (`docs/firewall.md`).
 *
 * On for a chat request that sends `floopy-llm-security-enabled: true` when its organisation's
 * plan has `has_advanced_firewall`; asked for without the flag, it answers `floopy-firewall:
 * DISABLED` and does nothing else. Without the header it costs one header read.
 *
 * The check, bounded as a whole by `FIREWALL_TIMEOUT_MS`:
 * 1. the verdict cache: the last user message's embedding — the one the cache stage made
 *    (`c.var.embedding`), else one made here — against the organisation's stored unsafe verdicts
 *    (cosine ≥ `FIREWALL_CACHE_THRESHOLD`, unexpired). A match blocks with no model call;
 * 2. otherwise one backend of `FIREWALL_MODEL`, drawn by weight, classifies the conversation.
 *
 * Unsafe → 400 `PROMPT_THREAT_DETECTED` naming the categories, before any provider call (a
 * streamed request gets the same JSON error: no stream has started); a model verdict on a
 * conversation of one user message is stored after the response (one whose earlier turns made it
 * unsafe says nothing of the last message elsewhere). Safe → the request goes on. No verdict (the model failing, slow, answering
 * outside its contract, or none configured) → the request goes on with `floopy-firewall: ERROR`
 * and a loud log line: the firewall fails open. A verdict cache that fails is logged and skipped;
 * the model then decides.
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { Embedder } from '../../cache/embed'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import {
  conversationOf,
  describeCategories,
  drawBackend,
  type Turn,
} from '../../firewall/classifier'
import {
  FIREWALL_FLAG,
  backendName,
  classify,
  firewallRequested,
  readStoredVerdict,
  type FirewallBackend,
  type StoredVerdict,
} from '../../firewall/check'
import { alarm, describeError } from '../../logging/alarm'
import type { callProvider } from '../../providers/client'
import type { VectorStore } from '../../stores'
import type { FirewallCheck, Usage } from '../../types'
import { afterResponse } from '../after-response'
import type { AuthVariables } from '../authenticate'
import { within, type EmbeddingVariables } from '../cache'
import type { ParsedVariables } from '../parse-request'

export type FirewallServices = {
  /** `FIREWALL_MODEL`'s backends; empty when none is configured (every check is then `ERROR`). */
  readonly backends: readonly FirewallBackend[]
  /** Why there is no backend, for the log line. */
  readonly unconfigured: string | undefined
  readonly call: typeof callProvider
  /** The verdict cache; `undefined`: every check asks the model. */
  readonly verdicts: VectorStore | undefined
  /** Embeds the prompt when the cache stage did not; `undefined`: no verdict cache. */
  readonly embedder: Embedder | undefined
  readonly embedTimeoutMs: number
  readonly timeoutMs: number
  readonly cacheThreshold: number
  readonly cacheTtlSeconds: number
  /** Uniform in [0, 1): draws the backend. */
  readonly random?: () => number
}

type FirewallEnv = StageEnv<AuthVariables & ParsedVariables & Partial<EmbeddingVariables>>

/** The payload scope of verdict points (one collection per embedding model holds only them). */
const SCOPE = 'firewall'

type Decided = {
  readonly unsafe: boolean
  readonly categories: readonly string[]
  readonly source: 'model' | 'cache'
  readonly backend: string
  readonly modelRef: string
  readonly usage: Usage | undefined
  /** The vector to remember an unsafe model verdict by. */
  readonly vector: Float32Array | undefined
}

export const firewall = (services: FirewallServices): MiddlewareHandler<FirewallEnv> => {
  const random = services.random ?? Math.random

  /** The prompt's vector: the cache stage's when it embedded this text, else one call here. */
  const vectorFor = async (
    text: string,
    made: EmbeddingVariables['embedding'] | undefined,
    tried: string | undefined,
    requestId: string,
  ): Promise<Float32Array | undefined> => {
    if (services.verdicts === undefined || services.embedder === undefined) return undefined
    if (made?.text === text) return made.vector
    // The cache stage tried this text and failed: one embedding call per request, at most.
    if (tried === text) return undefined
    return within(
      services.embedder.embed(text, requestId, services.embedTimeoutMs),
      services.embedTimeoutMs,
      'embedding',
    ).catch((err: unknown) => {
      alarm('firewall embedding failed: the model decides', { error: describeError(err) })
      return undefined
    })
  }

  const recall = async (
    vector: Float32Array,
    orgId: string,
  ): Promise<StoredVerdict | undefined> => {
    if (services.verdicts === undefined) return undefined
    try {
      const found = await services.verdicts.nearest(
        vector,
        { org: orgId, scope: SCOPE, now: Date.now() },
        services.cacheThreshold,
      )
      return found === undefined ? undefined : readStoredVerdict(found.entry)
    } catch (err) {
      alarm('firewall verdict cache failed: the model decides', { error: describeError(err) })
      return undefined
    }
  }

  const decide = async (
    turns: readonly Turn[],
    orgId: string,
    requestId: string,
    made: EmbeddingVariables['embedding'] | undefined,
    tried: string | undefined,
  ): Promise<Decided> => {
    const last = turns.at(-1)?.text ?? ''
    const vector = await vectorFor(last, made, tried, requestId)
    const stored = vector === undefined ? undefined : await recall(vector, orgId)
    if (stored !== undefined) {
      return {
        unsafe: true,
        categories: stored.categories,
        source: 'cache',
        backend: stored.backend,
        modelRef: stored.model_ref,
        usage: undefined,
        vector: undefined,
      }
    }
    if (services.backends.length === 0) {
      throw new Error(services.unconfigured ?? 'no safety model is configured')
    }
    const backend = drawBackend(services.backends, random)
    const { verdict, usage } = await classify(services.call, backend, turns, {
      requestId,
      timeoutMs: services.timeoutMs,
    })
    return {
      unsafe: !verdict.safe,
      categories: verdict.safe ? [] : verdict.categories,
      source: 'model',
      backend: backendName(backend),
      modelRef: backend.ref,
      usage,
      // A verdict is remembered by the last message's meaning only when it judged that message
      // alone: one its earlier turns made unsafe says nothing of the message elsewhere.
      vector: turns.length === 1 ? vector : undefined,
    }
  }

  const remember = (decided: Decided, orgId: string): Promise<void> => {
    if (services.verdicts === undefined || decided.vector === undefined) return Promise.resolve()
    const now = Math.floor(Date.now() / 1000)
    const stored: StoredVerdict = {
      categories: decided.categories,
      backend: decided.backend,
      model_ref: decided.modelRef,
      created_at: now,
    }
    return services.verdicts.upsert({
      id: crypto.randomUUID(),
      vector: decided.vector,
      payload: {
        org: orgId,
        namespace: SCOPE,
        scope: SCOPE,
        expires_at: now + services.cacheTtlSeconds,
        entry: JSON.stringify(stored),
        ...stored,
      },
    })
  }

  const check = async (c: Context<FirewallEnv>, next: Next): Promise<void> => {
    const tenant = c.get('tenant')
    const request = c.get('request')
    if (tenant.org.features[FIREWALL_FLAG] !== true || request.kind !== 'chat') {
      await next()
      c.res.headers.set('floopy-firewall', 'DISABLED')
      return
    }
    const trace = c.get('trace')
    const messages = request.body.messages
    const turns = conversationOf(Array.isArray(messages) ? messages : [])
    if (turns === undefined) {
      // No user text: nothing a user wrote reaches the model.
      trace.firewall = 'SAFE'
      await next()
      c.res.headers.set('floopy-firewall', 'SAFE')
      return
    }
    const started = Date.now()
    let decided: Decided
    try {
      decided = await within(
        decide(
          turns,
          tenant.orgId,
          c.get('requestId'),
          c.get('embedding'),
          c.get('embeddingTried'),
        ),
        services.timeoutMs,
        'firewall check',
      )
    } catch (err) {
      const error = describeError(err)
      alarm('firewall check failed: the request goes through unchecked', {
        orgId: tenant.orgId,
        error,
      })
      trace.firewall = 'ERROR'
      trace.firewallCheck = {
        source: 'model',
        categories: [],
        backend: '',
        modelRef: '',
        latencyMs: Date.now() - started,
        usage: undefined,
        error,
      }
      await next()
      c.res.headers.set('floopy-firewall', 'ERROR')
      return
    }
    const check: FirewallCheck = {
      source: decided.source,
      categories: decided.categories,
      backend: decided.backend,
      modelRef: decided.modelRef,
      latencyMs: Date.now() - started,
      usage: decided.usage,
      error: undefined,
    }
    trace.firewallCheck = check
    if (decided.unsafe) {
      trace.firewall = 'UNSAFE'
      if (decided.source === 'model') {
        afterResponse(
          c,
          remember(decided, tenant.orgId).catch((err: unknown) => {
            alarm('firewall verdict cache store failed', { error: describeError(err) })
          }),
        )
      }
      throw new GatewayError(
        'PROMPT_THREAT_DETECTED',
        `The request was blocked by the LLM firewall: the last user message was judged unsafe ` +
          `(${describeCategories(decided.categories)}). No provider was called.`,
        { headers: { 'floopy-firewall': 'BLOCKED', 'floopy-firewall-source': decided.source } },
      )
    }
    trace.firewall = 'SAFE'
    await next()
    c.res.headers.set('floopy-firewall', 'SAFE')
    c.res.headers.set('floopy-firewall-source', decided.source)
  }

  // Not `async`: a request that asks for no check costs no promise here.
  return function firewall(c, next) {
    return firewallRequested(c.req.raw.headers) ? check(c, next) : next()
  }
}
