/**
 * @module `GET /v1/models`: the models the configured providers serve, as `provider/model` ids.
 *
 * Each configured provider's own model list is asked for through the provider client
 * (concurrently, with a short time limit; Bedrock's is a fixed list, `providers/bedrock/models.ts`)
 * and the union is answered in OpenAI's
 * `ListModelsResponse` shape. Lists are memoised per isolate for a minute; a provider that fails
 * is left out and named in `floopy-unavailable-providers`.
 */
import type { Handler } from 'hono'
import type { StageEnv } from '../env'
import type { listModels as listProviderModels } from '../providers/client'
import type { ProviderConfig } from '../types'

const TTL_MS = 60_000
const TIMEOUT_MS = 5_000

export type ModelEntry = { id: string; object: 'model'; created: number; owned_by: string }

type Listing = { data: ModelEntry[]; unavailable: string[]; expires: number }

export type ModelsOptions = {
  /** The configured providers (`GatewayConfig.providers`). */
  readonly providers: ReadonlyMap<string, ProviderConfig>
  /** The provider client's model listing (a stand-in in unit tests). */
  readonly list: typeof listProviderModels
}

export const listModels = ({ providers, list }: ModelsOptions): Handler<StageEnv> => {
  let memo: Listing | undefined

  const entries = async (provider: ProviderConfig): Promise<ModelEntry[]> =>
    (await list(provider, TIMEOUT_MS)).map((m) => ({
      id: `${provider.spec.id}/${m.id}`,
      object: 'model' as const,
      created: m.created,
      owned_by: m.ownedBy ?? provider.spec.id,
    }))

  const listAll = async (): Promise<Listing> => {
    if (memo !== undefined && memo.expires > Date.now()) return memo
    // The client answers for a provider without a listing (none, or a fixed one: Bedrock's).
    const listed = [...providers.values()]
    const results = await Promise.allSettled(listed.map(entries))
    const listing: Listing = { data: [], unavailable: [], expires: Date.now() + TTL_MS }
    results.forEach((result, i) => {
      const id = listed[i]?.spec.id ?? 'unknown'
      if (result.status === 'fulfilled') listing.data.push(...result.value)
      else {
        listing.unavailable.push(id)
        console.warn(JSON.stringify({ level: 'warn', msg: 'model list unavailable', provider: id }))
      }
    })
    // A partial answer is not memoised, so a provider that recovers shows up on the next call.
    if (listing.unavailable.length === 0) memo = listing
    return listing
  }

  return async function listModels(c) {
    const listing = await listAll()
    if (listing.unavailable.length > 0) {
      c.header('floopy-unavailable-providers', listing.unavailable.join(', '))
    }
    return c.json({ object: 'list', data: listing.data })
  }
}
