/**
 * @module Decides where a request goes: the ordered list of targets dispatch will try.
 *
 * Without a routing rule a request has one target, resolved from its `model` (see
 * `providers/catalog.ts`). With one (chat completions only; the key's rule before the
 * organisation's, a rule for the requested model before a rule for any), the rule's strategy
 * orders its targets (`routing/strategies.ts`) and dispatch tries them in that order, each
 * translated for its provider.
 */
import type { MiddlewareHandler } from 'hono'
import {
  builtinProvider,
  type GatewayConfig,
  type GatewayEnv,
  type ProviderConfig,
} from '../../env'
import { GatewayError } from '../../errors'
import { adapterFor } from '../../providers/adapter'
import { resolveModel } from '../../providers/catalog'
import { BUILTIN_PROVIDER_IDS, PROVIDERS } from '../../providers/registry'
import { setBounded } from '../../routing/isolate-state'
import { attemptOrder, updateEwma, type LatencySample } from '../../routing/strategies'
import type { RoutingRule } from '../../tenancy/tenant'
import type { EndpointKind } from '../parse-request'

/** One place a request can be sent: a configured provider, the model name it knows, the URL. */
export type Target = {
  readonly provider: ProviderConfig
  readonly model: string
  readonly url: URL
}

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
 * stored its own key for it (`orgProviders`), at the provider's default base URL.
 */
export const resolveTarget = (
  config: GatewayConfig,
  request: { readonly kind: EndpointKind; readonly stream: boolean },
  model: string,
  orgProviders: ReadonlyMap<string, unknown> = new Map(),
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
  const provider =
    config.providers.get(address.provider) ??
    (orgProviders.has(address.provider) ? DEFAULT_PROVIDERS.get(address.provider) : undefined)
  if (provider === undefined) {
    throw new GatewayError(
      'PROVIDER_NOT_CONFIGURED',
      `The model '${model}' is served by '${address.provider}', which is not configured on this ` +
        `gateway (set ${address.provider.toUpperCase()}_API_KEY, or store your organisation's key ` +
        `with the admin CLI).`,
      { param: 'model' },
    )
  }
  const url = adapterFor(provider.spec.family).endpoint(request, provider, address.model)
  return { provider, model: address.model, url }
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

/**
 * Recent latency per target (time to response headers), per isolate, for the `latency` strategy.
 * Each isolate learns from its own traffic; sharing it across isolates is a later step.
 */
const latency = new Map<string, LatencySample>()

/** Records a target's time to response headers (called by dispatch after each success). */
export const recordLatency = (provider: string, model: string, ms: number): void => {
  const id = `${provider}/${model}`
  setBounded(latency, id, updateEwma(latency.get(id), ms))
}

export const route = (): MiddlewareHandler<GatewayEnv> =>
  async function route(c, next) {
    const request = c.get('request')
    const tenant = c.get('tenant')
    const config = c.get('config')
    const rule = request.kind === 'chat' ? ruleFor(tenant.routingRules, request.model) : undefined
    if (rule === undefined) {
      c.set('targets', [resolveTarget(config, request, request.model, tenant.providerKeys)])
    } else {
      const ordered = attemptOrder({
        strategy: rule.strategy,
        targets: rule.targets.map((t) => ({
          id: `${t.provider}/${t.model}`,
          ...(t.weight === undefined ? {} : { weight: t.weight }),
        })),
        counter: nextPosition(`${tenant.orgId}:${rule.apiKeyId ?? ''}:${rule.model ?? ''}`),
        random: Math.random,
        latency,
      })
      c.set(
        'targets',
        ordered.map((t) => resolveTarget(config, request, t.id, tenant.providerKeys)),
      )
    }
    await next()
  }
