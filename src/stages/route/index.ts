/**
 * @module Decides where a request goes: the ordered list of targets dispatch will try.
 *
 * Today a request has one target, resolved from its `model` (see `providers/catalog.ts`); routing
 * rules and strategies extend this list without changing dispatch.
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

export const route = (): MiddlewareHandler<GatewayEnv> =>
  async function route(c, next) {
    const request = c.get('request')
    const orgKeys = c.get('tenant').providerKeys
    c.set('targets', [resolveTarget(c.get('config'), request, request.model, orgKeys)])
    await next()
  }
