/**
 * @module The composition root: for each bindings object (workerd hands the same one to every
 * request of an isolate), the configuration is parsed, the adapters behind each port are chosen
 * (Supabase and Upstash when configured, else the embedded defaults), the services are made, and
 * the pipeline is wired with them — once. A request then costs one map lookup before the pipeline.
 *
 * An invalid configuration is not a crash: every request answers 500 `CONFIG_INVALID` naming the
 * variable, until the bindings change.
 */
import { createApp, createFailingApp, type Services } from './app'
import { localEmbedder, providerEmbedder, type Embedder } from './cache/embed'
import { loadConfig, type GatewayConfig } from './config'
import type { Bindings } from './env'
import { GatewayError } from './errors'
import { createPromptResolver } from './prompts/resolver'
import { callProvider, listModels } from './providers/client'
import type { BreakerConfig } from './routing/breaker'
import { createHealthTracker, type HealthTracker } from './routing/health'
import type { RoutingState } from './stores'
import { embeddedKeyStore } from './stores/embedded/key-store'
import { memoryState } from './stores/embedded/memory-state'
import { memoryCacheStore } from './stores/embedded/cache-store'
import { embeddedPromptStore } from './stores/embedded/prompt-store'
import { memoryVectorStore } from './stores/embedded/vector-store'
import { qdrantVectorStore } from './stores/qdrant/vector-store'
import { cacheCollection, firewallCollection } from './stores/shared-keys'
import { upstashCacheStore } from './stores/upstash/cache-store'
import { resolveTarget } from './stages/route'
import { memoryRoutingState } from './stores/embedded/routing-state'
import { supabaseKeyStore } from './stores/supabase/key-store'
import { supabasePromptStore } from './stores/supabase/prompt-store'
import { upstashRoutingState } from './stores/upstash/routing-state'
import { upstashRedis, upstashState } from './stores/upstash/shared-state'
import { createKeyResolver } from './tenancy/resolver'
import { forgetting } from './feedback/posterior'
import { referenceKey } from './feedback/reference'
import { createLearnedRouting, type LearnedRouting } from './routing/learned'
import type { FeedbackState } from './stores'
import { memoryFeedbackState } from './stores/embedded/feedback-state'
import { upstashFeedbackState } from './stores/upstash/feedback-state'
import { memoryResponseStore } from './stores/embedded/response-store'
import { upstashResponseStore } from './stores/upstash/response-store'
import type { FirewallBackend } from './firewall/check'
import type { FirewallServices } from './stages/firewall'

/**
 * Health trackers by shared-state location (`memory` or the Upstash URL), per isolate: what an
 * isolate learned about targets survives a re-parsed configuration with the same store.
 */
const trackers = new Map<string, HealthTracker>()

const trackerFor = (
  where: string,
  breaker: BreakerConfig,
  syncIntervalMs: number,
  routing: () => RoutingState,
): HealthTracker => {
  const id = `${where} ${JSON.stringify(breaker)} ${String(syncIntervalMs)}`
  let tracker = trackers.get(id)
  if (tracker === undefined) {
    tracker = createHealthTracker(routing(), { config: breaker, syncIntervalMs })
    trackers.set(id, tracker)
  }
  return tracker
}

/** What an isolate learned from feedback, by shared-state location, like the health trackers. */
const learnedBy = new Map<string, { state: FeedbackState; learned: LearnedRouting }>()

const learnedFor = (
  where: string,
  syncIntervalMs: number,
  state: () => FeedbackState,
): { state: FeedbackState; learned: LearnedRouting } => {
  const id = `${where} ${String(syncIntervalMs)}`
  let known = learnedBy.get(id)
  if (known === undefined) {
    const shared = state()
    known = { state: shared, learned: createLearnedRouting(shared, syncIntervalMs) }
    learnedBy.set(id, known)
  }
  return known
}

/** The reference keys by secret (one random key per isolate when there is no secret). */
const referenceKeys = new Map<string, Promise<CryptoKey>>()

const referenceKeyFor = (secret: string | undefined): (() => Promise<CryptoKey>) => {
  const id = secret ?? ''
  return () => {
    let key = referenceKeys.get(id)
    if (key === undefined) {
      key = (async () => {
        const material =
          secret === undefined
            ? crypto.getRandomValues(new Uint8Array(32))
            : new Uint8Array(
                await crypto.subtle.digest(
                  'SHA-256',
                  new TextEncoder().encode(`floopy request reference\n${secret}`),
                ),
              )
        return referenceKey(material)
      })()
      referenceKeys.set(id, key)
    }
    return key
  }
}

/** The services for a configuration: its adapters behind the ports, and the provider client. */
export const servicesFor = (config: GatewayConfig, logQueue: Bindings['LOG_QUEUE']): Services => {
  const keys =
    config.supabase === undefined
      ? embeddedKeyStore(config.tenants, config.devApiKey)
      : supabaseKeyStore(config.supabase, config.storeTimeoutMs)
  const prompts =
    config.supabase === undefined
      ? embeddedPromptStore(config.tenants)
      : supabasePromptStore(config.supabase, config.storeTimeoutMs)
  const redis =
    config.upstash === undefined ? undefined : upstashRedis(config.upstash, config.storeTimeoutMs)
  const state =
    redis === undefined
      ? memoryState({ ipRpm: config.ipRpm })
      : upstashState(redis, { ipRpm: config.ipRpm })
  const health =
    redis === undefined || config.upstash === undefined
      ? trackerFor('memory', config.breaker, config.syncIntervalMs, () =>
          memoryRoutingState(config.breaker),
        )
      : trackerFor(config.upstash.url, config.breaker, config.syncIntervalMs, () =>
          upstashRoutingState(redis, config.breaker),
        )
  const resolver = createKeyResolver({ keys, state })
  const feedbackState =
    redis === undefined || config.upstash === undefined
      ? learnedFor('memory', config.syncIntervalMs, memoryFeedbackState)
      : learnedFor(config.upstash.url, config.syncIntervalMs, () => upstashFeedbackState(redis))
  const embedded = redis === undefined
  const embedder = embedderFor(config, embedded)
  const vectors =
    embedder === undefined
      ? undefined
      : config.qdrant !== undefined
        ? qdrantVectorStore(
            config.qdrant,
            (dimensions) => cacheCollection(embedder.model, dimensions),
            config.cacheLookupTimeoutMs,
          )
        : embedded
          ? memoryVectorStore()
          : undefined
  const verdicts =
    embedder === undefined
      ? undefined
      : config.qdrant !== undefined
        ? qdrantVectorStore(
            config.qdrant,
            (dimensions) => firewallCollection(embedder.model, dimensions),
            config.cacheLookupTimeoutMs,
          )
        : embedded
          ? memoryVectorStore()
          : undefined
  return {
    config,
    state,
    resolver,
    // Prompts are fresh while the config epoch the key resolver last saw is.
    prompts: createPromptResolver({ prompts, state, epoch: () => resolver.epoch() }),
    health,
    cache: {
      store: redis === undefined ? memoryCacheStore() : upstashCacheStore(redis),
      vectors,
      embedder,
      embedTimeoutMs: config.embeddingTimeoutMs,
      lookupTimeoutMs: config.cacheLookupTimeoutMs,
    },
    responses: redis === undefined ? memoryResponseStore() : upstashResponseStore(redis),
    feedback: {
      state: feedbackState.state,
      learned: feedbackState.learned,
      key: referenceKeyFor(config.feedback.secret),
      gamma: forgetting(config.feedback.halfLife),
      minSamples: config.feedback.minSamples,
      exploration: config.feedback.exploration,
    },
    firewall: {
      ...firewallBackends(config),
      call: callProvider,
      verdicts,
      embedder,
      embedTimeoutMs: config.embeddingTimeoutMs,
      timeoutMs: config.firewall.timeoutMs,
      cacheThreshold: config.firewall.cacheThreshold,
      cacheTtlSeconds: config.firewall.cacheTtlSeconds,
    },
    call: callProvider,
    listModels,
    logQueue,
  }
}

/**
 * `FIREWALL_MODEL`'s backends as targets with the operator's keys. A backend whose provider the
 * gateway does not have or has not configured is a configuration error when `FIREWALL_MODEL` names
 * it; the default's (Together) is not: without it, every check fails open (`ERROR`), logged.
 */
const firewallBackends = (
  config: GatewayConfig,
): Pick<FirewallServices, 'backends' | 'unconfigured'> => {
  const backends: FirewallBackend[] = []
  const missing: string[] = []
  for (const { provider, model, weight } of config.firewall.backends) {
    const ref = `[${provider}](${model})`
    let problem: string | undefined
    try {
      const target = resolveTarget(
        config,
        { kind: 'chat', stream: false },
        `${provider}/${model}`,
        { orgId: '', providerKeys: new Map() },
        'operator',
      )
      if (target.provider.spec.id === provider) backends.push({ target, weight, ref })
      else problem = `${ref}: the gateway has no provider '${provider}'`
    } catch (err) {
      problem = `${ref}: ${err instanceof GatewayError ? err.message : 'cannot be resolved'}`
    }
    if (problem === undefined) continue
    if (config.firewall.explicit) {
      throw new GatewayError(
        'CONFIG_INVALID',
        `Gateway configuration is invalid: FIREWALL_MODEL: ${problem}`,
      )
    }
    missing.push(problem)
  }
  return {
    backends,
    unconfigured:
      missing.length === 0
        ? undefined
        : `no safety model is configured (FIREWALL_MODEL is unset and its default ${missing.join('; ')})`,
  }
}

/**
 * The cache's embedder: `FLOOPY_EMBEDDING_MODEL` through the provider client with the operator's
 * key; else the local embedder with the embedded stores (`npm run dev`); else none (the exact
 * tier only). A model that does not resolve to a configured provider is a configuration error.
 */
const embedderFor = (config: GatewayConfig, embedded: boolean): Embedder | undefined => {
  if (config.embeddingModel === undefined) return embedded ? localEmbedder : undefined
  let target
  try {
    target = resolveTarget(
      config,
      { kind: 'embeddings', stream: false },
      config.embeddingModel,
      { orgId: '', providerKeys: new Map() },
      'operator',
    )
  } catch (err) {
    throw new GatewayError(
      'CONFIG_INVALID',
      `Gateway configuration is invalid: FLOOPY_EMBEDDING_MODEL: ${err instanceof GatewayError ? err.message : 'cannot be resolved'}`,
    )
  }
  return providerEmbedder(target, callProvider)
}

type App = {
  fetch(request: Request, bindings: Bindings, ctx?: ExecutionContext): Response | Promise<Response>
}

const compose = (bindings: Bindings): App => {
  let config
  try {
    config = loadConfig(bindings)
  } catch (err) {
    if (err instanceof GatewayError) return createFailingApp(err)
    throw err
  }
  try {
    return createApp(servicesFor(config, bindings.LOG_QUEUE))
  } catch (err) {
    if (err instanceof GatewayError) {
      console.error(JSON.stringify({ level: 'error', msg: err.message }))
      return createFailingApp(err)
    }
    throw err
  }
}

/** The gateway as a fetch handler: `fetch(request, bindings, ctx)`, composed per bindings. */
export const createGateway = (): App => {
  const apps = new WeakMap<Bindings, App>()
  return {
    fetch(request, bindings, ctx) {
      let app = apps.get(bindings)
      if (app === undefined) {
        app = compose(bindings)
        apps.set(bindings, app)
      }
      return app.fetch(request, bindings, ctx)
    },
  }
}
