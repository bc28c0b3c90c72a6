/**
 * @module `GET /v1/models`: the models the configured providers serve, as `provider/model` ids.
 *
 * Each configured provider's own model list is asked for (concurrently, with a short time limit)
 * and the union is answered in OpenAI's `ListModelsResponse` shape. Lists are memoised per isolate
 * for a minute; a provider that fails is left out and named in `floopy-unavailable-providers`.
 */
import type { Handler } from 'hono'
import type { GatewayConfig, GatewayEnv, ProviderConfig } from '../env'
import { assertDestination } from '../stages/guard'
import { send } from '../stages/dispatch'

const TTL_MS = 60_000
const TIMEOUT_MS = 5_000

export type ModelEntry = { id: string; object: 'model'; created: number; owned_by: string }

type Listing = { data: ModelEntry[]; unavailable: string[]; expires: number }
const memo = new WeakMap<GatewayConfig, Listing>()

const fetchProviderModels = async (provider: ProviderConfig): Promise<ModelEntry[]> => {
  const path = provider.spec.paths.models
  if (path === null || provider.spec.family !== 'openai-compatible') return []
  const url = new URL(provider.baseUrl + path)
  assertDestination({ provider, model: '', url })
  const headers = new Headers({ accept: 'application/json' })
  if (provider.apiKey !== undefined) {
    headers.set(provider.spec.auth.header, `${provider.spec.auth.prefix}${provider.apiKey}`)
  }
  const res = await send(url, { headers }, { timeoutMs: TIMEOUT_MS, provider: provider.spec.id })
  if (!res.ok) {
    await res.body?.cancel()
    throw new Error(`HTTP ${res.status}`)
  }
  // OpenAI's `{ object: 'list', data: [...] }`; Together answers the bare array.
  const body = await res.json<unknown>()
  const items = Array.isArray(body) ? body : (body as { data?: unknown } | null)?.data
  if (!Array.isArray(items)) throw new Error('no model list')
  return items.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return []
    const { id, created, owned_by } = item as Record<string, unknown>
    if (typeof id !== 'string') return []
    return [
      {
        id: `${provider.spec.id}/${id}`,
        object: 'model' as const,
        created: typeof created === 'number' ? created : 0,
        owned_by: typeof owned_by === 'string' ? owned_by : provider.spec.id,
      },
    ]
  })
}

const listAll = async (config: GatewayConfig): Promise<Listing> => {
  const cached = memo.get(config)
  if (cached !== undefined && cached.expires > Date.now()) return cached
  const providers = [...config.providers.values()].filter(
    (p) => p.spec.family === 'openai-compatible' && p.spec.paths.models !== null,
  )
  const results = await Promise.allSettled(providers.map(fetchProviderModels))
  const listing: Listing = { data: [], unavailable: [], expires: Date.now() + TTL_MS }
  results.forEach((result, i) => {
    const id = providers[i]?.spec.id ?? 'unknown'
    if (result.status === 'fulfilled') listing.data.push(...result.value)
    else {
      listing.unavailable.push(id)
      console.warn(JSON.stringify({ level: 'warn', msg: 'model list unavailable', provider: id }))
    }
  })
  // A partial answer is not memoised, so a provider that recovers shows up on the next call.
  if (listing.unavailable.length === 0) memo.set(config, listing)
  return listing
}

export const listModels: Handler<GatewayEnv> = async (c) => {
  const listing = await listAll(c.get('config'))
  if (listing.unavailable.length > 0) {
    c.header('floopy-unavailable-providers', listing.unavailable.join(', '))
  }
  return c.json({ object: 'list', data: listing.data })
}
