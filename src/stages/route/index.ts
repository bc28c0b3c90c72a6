/**
 * @module Decides where a request goes: the ordered list of targets dispatch will try.
 *
 * Without a routing rule a request has one target, resolved from its `model` (see
 * `providers/catalog.ts`). With one (chat completions only; the key's rule before the
 * organisation's, a rule for the requested model before a rule for any), the rule's strategy
 * orders its targets (`routing/strategies.ts`) and dispatch tries them in that order, each
 * translated for its provider.
 *
 * The targets' health (breakers and latency, `routing/health.ts`) is read from the isolate's memo;
 * when a sync with shared state is due, `healthSync` issues it on the first round trip, and this
 * stage waits for it before ordering, so a routed request starts from fresh health at no round
 * trip of its own. The `feedback` strategy's posteriors are memoised and refreshed the same way
 * (`feedbackSync`, `routing/learned.ts`); a request with `floopy-session-id` keeps the target that
 * last answered its session (in this isolate) while that target answers.
 */
import type { MiddlewareHandler } from 'hono'
import { builtinProvider, type GatewayConfig } from '../../config'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { resolveModel } from '../../providers/catalog'
import { adapterFor } from '../../providers/families'
import { BUILTIN_PROVIDER_IDS, PROVIDERS, keyVariables } from '../../providers/registry'
import { ruleTag } from '../../feedback/reference'
import { blendedPrice } from '../../logging/prices'
import type { HealthTracker } from '../../routing/health'
import type { LearnedRouting } from '../../routing/learned'
import { feedbackStatsKey } from '../../stores/shared-keys'
import { setBounded } from '../../routing/isolate-state'
import { attemptOrder, type FeedbackInput, type RouteTarget } from '../../routing/strategies'
import type { RoutingRule } from '../../tenancy/tenant'
import type { EndpointKind, KeyChoice, ProviderConfig, Target } from '../../types'
import type { AuthVariables } from '../authenticate'
import type { RoundTripPart } from '../first-round-trip'
import type { ParsedVariables } from '../parse-request'

/** What this stage sets. */
export type RouteVariables = { targets: readonly Target[] }

/** What the health part sets: a due sync of routing health, pending (it never rejects). */
export type HealthSyncVariables = { healthSync: Promise<void> | undefined }

/** What the feedback part sets: a due read of the rule's posteriors (it never rejects). */
export type FeedbackSyncVariables = { feedbackSync: Promise<void> | undefined }

/** The header that keeps an episode's requests on one target (`feedback` rules). */
export const SESSION_HEADER = 'floopy-session-id'

/** The `feedback` strategy's settings (`FLOOPY_FEEDBACK_*`). */
export type FeedbackRouting = {
  readonly learned: LearnedRouting
  readonly minFeedback: number
  readonly floor: number
}

/** The statistics key a rule learns from. */
const statsKeyOf = (orgId: string, rule: RoutingRule): string =>
  feedbackStatsKey(orgId, ruleTag(rule), rule.params?.metric ?? 'rating')

type Lookup = { ids: ReadonlySet<string>; customModels: ReadonlyMap<string, string> }
const lookups = new WeakMap<GatewayConfig, Lookup>()

const lookupFor = (config: GatewayConfig): Lookup => {
  let lookup = lookups.get(config)
  if (lookup === undefined) {
    const customModels = new Map<string, string>()
    for (const provider of config.providers.values()) {
      for (const model of provider.models) customModels.set(model, provider.spec.id)
    }
    lookup = { ids: new Set([...BUILTIN_PROVIDER_IDS, ...config.providers.keys()]), customModels }
    lookups.set(config, lookup)
  }
  return lookup
}

/** Built-in providers at their default base URLs, for organisations that bring their own key. */
const DEFAULT_PROVIDERS: ReadonlyMap<string, ProviderConfig> = new Map(
  PROVIDERS.map((spec) => [spec.id, builtinProvider(spec, undefined, undefined)]),
)

/**
 * Resolves `model` against a configuration; unresolvable or unconfigured → a helpful 400. A
 * built-in provider the operator did not configure is still available to an organisation that
 * stored its own key for it (`tenant.providerKeys`), at the provider's default base URL. `key` says whose
 * provider key to use; left out, the organisation's own when it stored one, else the operator's.
 */
export const resolveTarget = (
  config: GatewayConfig,
  request: { readonly kind: EndpointKind; readonly stream: boolean },
  model: string,
  tenant: { readonly orgId: string; readonly providerKeys: ReadonlyMap<string, unknown> },
  key?: KeyChoice,
): Target => {
  const lookup = lookupFor(config)
  const address = resolveModel(model, lookup.ids, lookup.customModels)
  if (address === undefined) {
    throw new GatewayError(
      'UNKNOWN_MODEL',
      `The model '${model}' could not be resolved to a provider. Address it as 'provider/model' ` +
        `(providers: ${[...lookup.ids].join(', ')}), e.g. 'openai/gpt-4o-mini'.`,
      { param: 'model' },
    )
  }
  const own = tenant.providerKeys.has(address.provider)
  const choice = key ?? (own ? 'organization' : 'operator')
  const operator = config.providers.get(address.provider)
  const provider =
    choice === 'operator'
      ? operator
      : own
        ? (operator ?? DEFAULT_PROVIDERS.get(address.provider))
        : undefined
  if (provider === undefined) {
    throw new GatewayError(
      'PROVIDER_NOT_CONFIGURED',
      choice === 'organization' && key !== undefined
        ? `The routing rule sends '${model}' with the organisation's own ${address.provider} key, ` +
            `and none is stored (add it with the admin CLI: provider-key add).`
        : `The model '${model}' is served by '${address.provider}', which is not configured on ` +
            `this gateway (set ${keyVariables(address.provider)}, or store your ` +
            `organisation's key with the admin CLI).`,
      { param: 'model' },
    )
  }
  const url = adapterFor(provider.spec.family).endpoint(request, provider, address.model)
  const id = `${provider.spec.id}/${address.model}`
  return {
    provider,
    model: address.model,
    url,
    key: choice,
    healthId: choice === 'organization' ? `${id}#org:${tenant.orgId}` : id,
  }
}

/** The routing rule for a request: the key's before the organisation's, a model's before any. */
export const ruleFor = (rules: readonly RoutingRule[], model: string): RoutingRule | undefined =>
  rules.find((rule) => rule.model === null || rule.model === model)

/** Round-robin positions per rule, per isolate (a rotation, not a ledger: no sharing needed). */
const rotations = new Map<string, number>()

const nextPosition = (key: string): number => {
  const position = rotations.get(key) ?? 0
  setBounded(rotations, key, position + 1)
  return position
}

/** For a tenant with routing rules, the first round trip carries a due routing-health sync. */
export const healthSync = ({
  health,
}: {
  readonly health: HealthTracker
}): RoundTripPart<AuthVariables & HealthSyncVariables> => ({
  contribute(c, batch) {
    if (c.get('tenant').routingRules.length === 0) return
    // `sync` does nothing (and answers `undefined`) when no sync is due.
    c.set(
      'healthSync',
      batch.add(() => health.sync(Date.now()) ?? Promise.resolve()),
    )
  },
})

/** For a request routed by a `feedback` rule, the first round trip carries a due posterior read. */
export const feedbackSync = ({
  learned,
}: {
  readonly learned: LearnedRouting
}): RoundTripPart<AuthVariables & ParsedVariables & FeedbackSyncVariables> => ({
  contribute(c, batch) {
    const request = c.get('request')
    if (request.kind !== 'chat') return
    const tenant = c.get('tenant')
    const rule = ruleFor(tenant.routingRules, request.model)
    if (rule?.strategy !== 'feedback') return
    const key = statsKeyOf(tenant.orgId, rule)
    c.set(
      'feedbackSync',
      batch.add(() => learned.refresh(key, Date.now()) ?? Promise.resolve()),
    )
  },
})

export type RouteOptions = {
  readonly config: GatewayConfig
  readonly health: HealthTracker
  /** Absent: `feedback` rules order on empty posteriors (uniform exploration). */
  readonly feedback?: FeedbackRouting | undefined
}

export const route = ({
  config,
  health,
  feedback,
}: RouteOptions): MiddlewareHandler<
  StageEnv<
    AuthVariables &
      ParsedVariables &
      Partial<HealthSyncVariables> &
      Partial<FeedbackSyncVariables> &
      RouteVariables
  >
> =>
  async function route(c, next) {
    await c.get('healthSync')
    await c.get('feedbackSync')
    const request = c.get('request')
    const tenant = c.get('tenant')
    const rule = request.kind === 'chat' ? ruleFor(tenant.routingRules, request.model) : undefined
    if (rule === undefined) {
      c.set('targets', [resolveTarget(config, request, request.model, tenant)])
    } else {
      const byId = new Map<RouteTarget, Target>()
      const candidates = rule.targets.map((t) => {
        const target = resolveTarget(config, request, `${t.provider}/${t.model}`, tenant, t.key)
        const candidate: RouteTarget =
          t.weight === undefined
            ? { id: target.healthId }
            : { id: target.healthId, weight: t.weight }
        byId.set(candidate, target)
        return candidate
      })
      const tag = ruleTag(rule)
      c.get('trace').rule = tag
      const session =
        rule.strategy === 'feedback' ? c.req.header(SESSION_HEADER)?.slice(0, 256) : undefined
      const sessionKey = session === undefined ? undefined : `${tenant.orgId}:${tag}:${session}`
      const ordered = attemptOrder({
        strategy: rule.strategy,
        targets: candidates,
        counter: nextPosition(`${tenant.orgId}:${rule.apiKeyId ?? ''}:${rule.model ?? ''}`),
        random: Math.random,
        latency: health.latency,
        feedback:
          rule.strategy === 'feedback' && feedback !== undefined
            ? feedbackInput(tenant.orgId, rule, candidates, byId, health, feedback, sessionKey)
            : undefined,
      })
      c.set(
        'targets',
        ordered.flatMap((candidate) => byId.get(candidate) ?? []),
      )
      if (sessionKey !== undefined && feedback !== undefined) {
        await next()
        // The session stays with the target that answered it.
        const answered = c.get('trace').exchange
        if (answered?.answered === true) {
          feedback.learned.keepSession(sessionKey, answered.target.healthId, Date.now())
        }
        return
      }
    }
    await next()
  }

/** What the `feedback` strategy orders by: the memoised posteriors and each target's penalty. */
const feedbackInput = (
  orgId: string,
  rule: RoutingRule,
  candidates: readonly RouteTarget[],
  byId: ReadonlyMap<RouteTarget, Target>,
  health: HealthTracker,
  feedback: FeedbackRouting,
  sessionKey: string | undefined,
): FeedbackInput => {
  const learned = feedback.learned.posteriors(statsKeyOf(orgId, rule))
  const posteriors = new Map<string, NonNullable<ReturnType<typeof learned.get>>>()
  const penalties = new Map<string, number>()
  const costWeight = rule.params?.cost_weight ?? 0
  const latencyWeight = rule.params?.latency_weight ?? 0
  for (const candidate of candidates) {
    const target = byId.get(candidate)
    if (target === undefined) continue
    const name = `${target.provider.spec.id}/${target.model}`
    const posterior = learned.get(name)
    if (posterior !== undefined) posteriors.set(candidate.id, posterior)
    const price = blendedPrice(target.provider.spec.id, target.model) ?? 0
    const seconds = (health.latency.get(candidate.id)?.ewmaMs ?? 0) / 1000
    penalties.set(candidate.id, costWeight * price + latencyWeight * seconds)
  }
  return {
    posteriors,
    penalties,
    minFeedback: feedback.minFeedback,
    floor: feedback.floor,
    sticky: sessionKey === undefined ? undefined : feedback.learned.sessionTarget(sessionKey),
  }
}
