/**
 * @module The gateway: the request pipeline, read top to bottom.
 *
 * Each stage is one checkpoint, in order; a run of them is one Hono handler (`stages/chain.ts`),
 * run as Hono would run them one by one. A stage passes (`await next()`), answers (a `Response`), or
 * throws a `GatewayError`, which `onError` turns into the one OpenAI-shaped error envelope. Every
 * stage gets the ports and services it uses here, from the composition root (`gateway.ts`), and
 * declares the request variables it sets (`c.var`); `GatewayEnv` is all of them together.
 */
import { Hono, type Context } from 'hono'
import type { GatewayConfig } from './config'
import type { Bindings, StageEnv } from './env'
import { GatewayError, toGatewayError } from './errors'
import type { callProvider, listModels as listProviderModels } from './providers/client'
import { redactSecrets } from './providers/upstream-error'
import type { PromptResolver } from './prompts/resolver'
import type { HealthTracker } from './routing/health'
import { listModels } from './routes/models'
import { renderPrompt } from './routes/prompts'
import { authenticate, type AuthVariables } from './stages/authenticate'
import { bodyLimit, type BodyVariables } from './stages/body-limit'
import { chain, type Stage } from './stages/chain'
import {
  cache,
  exactLookup,
  type CacheLookupVariables,
  type CacheServices,
  type EmbeddingVariables,
} from './stages/cache'
import { dispatch } from './stages/dispatch'
import { firewall, type FirewallServices } from './stages/firewall'
import { postFeedback } from './routes/feedback'
import { reference } from './stages/reference'
import type { LearnedRouting } from './routing/learned'
import type { FeedbackState, ResponseStore } from './stores'
import { firstRoundTrip } from './stages/first-round-trip'
import { guard, type GuardVariables } from './stages/guard'
import { admission, limits, type AdmissionVariables } from './stages/limits'
import { parseRequest, type ParsedVariables } from './stages/parse-request'
import { prompt } from './stages/prompt'
import { requestId } from './stages/request-id'
import { responses } from './stages/responses'
import { requestLog } from './stages/request-log'
import {
  feedbackSync,
  healthSync,
  route,
  type FeedbackSyncVariables,
  type HealthSyncVariables,
  type RouteVariables,
} from './stages/route'
import { subscription } from './stages/subscription'
import type { SharedState } from './stores'
import type { KeyResolver } from './tenancy/resolver'

/** Every request variable, as the routes see them once all stages before them have run. */
export type GatewayEnv = StageEnv<
  BodyVariables &
    AuthVariables &
    ParsedVariables &
    AdmissionVariables &
    HealthSyncVariables &
    FeedbackSyncVariables &
    CacheLookupVariables &
    EmbeddingVariables &
    RouteVariables &
    GuardVariables
>

/** What the pipeline is built from: the configuration, the ports, the services. */
export type Services = {
  readonly config: GatewayConfig
  readonly state: SharedState
  readonly resolver: KeyResolver
  readonly prompts: PromptResolver
  readonly health: HealthTracker
  readonly cache: CacheServices
  readonly firewall: FirewallServices
  /** Responses API answers kept for later references. */
  readonly responses: ResponseStore
  readonly feedback: {
    readonly state: FeedbackState
    readonly learned: LearnedRouting
    /** The request references' key. */
    readonly key: () => Promise<CryptoKey>
    /** The posteriors' forgetting factor per feedback. */
    readonly gamma: number
    readonly minSamples: number
    readonly exploration: number
  }
  readonly call: typeof callProvider
  readonly listModels: typeof listProviderModels
  readonly logQueue: Bindings['LOG_QUEUE']
}

export const createApp = (services: Services): Hono<GatewayEnv> => {
  const { config, state, resolver, prompts, health } = services
  const app = new Hono<GatewayEnv>()

  app.use(requestId()) // 0. request id, trace, taps
  app.get('/healthz', (c) => c.json({ status: 'ok' }))

  // A run of stages is one Hono handler (`stages/chain.ts`), in the order listed.
  const stages = (...run: Stage[]) => chain<GatewayEnv>(run, stageError)
  app.use(
    '/v1/*',
    stages(
      // 13. one log record per request, made after the response
      requestLog({
        queue: services.logQueue,
        accessLog: config.accessLog,
        ipHashKey: config.logIpHashKey,
      }),
      // 13b. a served request's id becomes its signed reference, for feedback
      reference({ key: services.feedback.key }),
      bodyLimit({ maxBodyBytes: config.maxBodyBytes }), // 1. body size, read once
      // 2-3. API key; per-IP limit for traffic without a valid one
      authenticate({ resolver, limitIp: (ip) => state.limitIp(ip), ipRpm: config.ipRpm }),
      subscription({ resolver }), // 5. subscription status (no I/O, before limits)
    ),
  )

  // Answered by the gateway itself: rate-limited, not counted toward the monthly quota.
  const uncounted = [
    firstRoundTrip([admission({ state, countsTowardQuota: false })]),
    limits({ state, resolver }),
  ] as const
  app.get(
    '/v1/models',
    ...uncounted,
    listModels({ providers: config.providers, list: services.listModels }),
  )
  app.post('/v1/prompts/:id/render', ...uncounted, renderPrompt({ resolver: prompts }))
  // Feedback on a served request: closes the loop (`docs/feedback.md`).
  app.post(
    '/v1/feedback',
    ...uncounted,
    postFeedback({
      key: services.feedback.key,
      state: services.feedback.state,
      cache: services.cache.store,
      queue: services.logQueue,
      gamma: services.feedback.gamma,
    }),
  )
  // Chat completions, embeddings and the Responses API share one pipeline after their entry.
  const pipeline = [
    // One shared-state round trip for everything the stages below need from it.
    firstRoundTrip<
      AuthVariables &
        ParsedVariables &
        AdmissionVariables &
        HealthSyncVariables &
        FeedbackSyncVariables &
        CacheLookupVariables
    >([
      admission({ state, countsTowardQuota: true }),
      healthSync({ health }),
      feedbackSync({ learned: services.feedback.learned }),
      exactLookup({ store: services.cache.store, prompts }),
    ]),
    limits({ state, resolver }), // 4+6. org and key rate limits, monthly quota
    prompt({ resolver: prompts }), // 7. prompt template (floopy-prompt-id)
    cache(services.cache), // 8. response cache: exact, semantic, bucketed
    firewall(services.firewall), // 9. LLM firewall (floopy-llm-security-enabled)
    route({
      config,
      health,
      feedback: {
        learned: services.feedback.learned,
        minFeedback: services.feedback.minSamples,
        floor: services.feedback.exploration,
      },
    }), // 10. targets
    guard(), // 11. SSRF + header hygiene
    dispatch({
      call: services.call,
      health,
      keyring: config.keyring,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      attemptTimeoutMs: config.attemptTimeoutMs,
      routingDeadlineMs: config.routingDeadlineMs,
      retry: config.retry,
    }), // 12. send, stream back, fail over
  ] as const
  // The body, parsed once; a Responses request as the chat completion it is translated to.
  app.post('/v1/chat/completions', stages(parseRequest('chat'), ...pipeline))
  app.post('/v1/embeddings', stages(parseRequest('embeddings'), ...pipeline))
  app.post('/v1/responses', stages(responses({ store: services.responses }), ...pipeline))
  for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/responses']) {
    app.all(path, () => {
      throw new GatewayError('METHOD_NOT_ALLOWED', `Use POST for ${path}.`, {
        headers: { allow: 'POST' },
      })
    })
  }

  app.notFound((c) =>
    new GatewayError('NOT_FOUND', `Unknown endpoint: ${c.req.method} ${c.req.path}`).toResponse(
      c.get('requestId'),
    ),
  )
  app.onError(stageError)
  return app
}

/** The error response for what a stage threw (the app's `onError`, and each run's). */
const stageError = <E extends StageEnv>(err: Error, c: Context<E>): Response =>
  errorResponse(err, c.get('requestId'))

/** The envelope for anything thrown; an unexpected error is logged (redacted), never echoed. */
export const errorResponse = (err: unknown, requestId: string | undefined): Response => {
  const error = toGatewayError(err)
  if (error.code === 'INTERNAL_ERROR') {
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown'
    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'unhandled error',
        requestId,
        error: redactSecrets(detail),
      }),
    )
  }
  return error.toResponse(requestId)
}

/** The app of a gateway whose configuration is invalid: every request answers `error`. */
export const createFailingApp = (error: GatewayError): Hono<StageEnv> => {
  const app = new Hono<StageEnv>()
  app.use(requestId())
  app.all('*', () => {
    throw error
  })
  app.onError(stageError)
  return app
}
