/**
 * @module `GET /v1/models`: the models the configured providers serve, as `provider/model` ids.
 *
 * Each configured provider's own model list is asked for (concurrently, with a short time limit)
 * and the union is answered in OpenAI's `ListModelsResponse` shape. Lists are memoised per isolate
 * for a minute; a provider that fails is left out and named in `floopy-unavailable-providers`.
 */
import type { Handler } from 'hono'
import type { GatewayConfig, GatewayEnv, ProviderConfig } from '../env'
import type { ProviderFamily } from '../providers/registry'
import { assertDestination } from '../stages/guard'
import { send } from '../stages/dispatch'

const TTL_MS = 60_000
const TIMEOUT_MS = 5_000

export type ModelEntry = { id: string; object: 'model'; created: number; owned_by: string }

type Listing = { data: ModelEntry[]; unavailable: string[]; expires: number }
const memo = new WeakMap<GatewayConfig, Listing>()

type RawModel = { id: string; created: number; ownedBy?: string }

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined

/** How each family lists its models: extra headers, and where the ids are in the answer. */
const LISTINGS: Readonly<
  Record<ProviderFamily, { headers: Record<string, string>; parse: (body: unknown) => RawModel[] }>
> = {
  // OpenAI's `{ object: 'list', data: [...] }`; Together answers the bare array.
  'openai-compatible': {
    headers: {},
    parse: (body) => {
      const items = Array.isArray(body) ? body : record(body)?.data
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = record(item)
        if (typeof m?.id !== 'string') return []
        const ownedBy = typeof m.owned_by === 'string' ? { ownedBy: m.owned_by } : {}
        return [{ id: m.id, created: typeof m.created === 'number' ? m.created : 0, ...ownedBy }]
      })
    },
  },
  // `{ data: [{ id, created_at: RFC 3339 }] }` (Anthropic Models API).
  anthropic: {
    headers: { 'anthropic-version': '2023-06-01' },
    parse: (body) => {
      const items = record(body)?.data
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = record(item)
        if (typeof m?.id !== 'string') return []
        const created = typeof m.created_at === 'string' ? Date.parse(m.created_at) / 1000 : 0
        return [{ id: m.id, created: Number.isFinite(created) ? Math.floor(created) : 0 }]
      })
    },
  },
  // `{ models: [{ name: 'models/gemini-…', supportedGenerationMethods }] }` (ListModels).
  gemini: {
    headers: {},
    parse: (body) => {
      const items = record(body)?.models
      if (!Array.isArray(items)) throw new Error('no model list')
      return items.flatMap((item: unknown) => {
        const m = record(item)
        if (typeof m?.name !== 'string') return []
        return [{ id: m.name.replace(/^models\//, ''), created: 0 }]
      })
    },
  },
}

const fetchProviderModels = async (provider: ProviderConfig): Promise<ModelEntry[]> => {
  const path = provider.spec.paths.models
  if (path === null) return []
  const listing = LISTINGS[provider.spec.family]
  const url = new URL(provider.baseUrl + path)
  if (provider.spec.family === 'gemini') url.searchParams.set('pageSize', '1000')
  assertDestination({ provider, url })
  const headers = new Headers({ accept: 'application/json', ...listing.headers })
  if (provider.apiKey !== undefined) {
    headers.set(provider.spec.auth.header, `${provider.spec.auth.prefix}${provider.apiKey}`)
  }
  const res = await send(url, { headers }, { timeoutMs: TIMEOUT_MS, provider: provider.spec.id })
  if (!res.ok) {
    await res.body?.cancel()
    throw new Error(`HTTP ${res.status}`)
  }
  return listing.parse(await res.json<unknown>()).map((m) => ({
    id: `${provider.spec.id}/${m.id}`,
    object: 'model' as const,
    created: m.created,
    owned_by: m.ownedBy ?? provider.spec.id,
  }))
}

const listAll = async (config: GatewayConfig): Promise<Listing> => {
  const cached = memo.get(config)
  if (cached !== undefined && cached.expires > Date.now()) return cached
  const providers = [...config.providers.values()].filter((p) => p.spec.paths.models !== null)
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
