/**
 * @module Telling the gateways a Supabase change happened. Gateways memoise key configs per
 * isolate and cache them in Redis for up to 5 minutes; after every change the CLI increments the
 * config epoch (`CONFIG_EPOCH_KEY`), which makes every isolate re-validate its memo when it next
 * sees the epoch, and on revocation it also deletes the revoked key's cached config.
 *
 * The deletes come before the increment, in one MULTI/EXEC: an isolate that sees the new epoch must
 * not re-read a revoked key's old entry. A Redis failure is reported after the change is saved (the
 * change cannot be rolled back, and `key issue` has already shown its key), as exit code 3.
 */
import { CONFIG_EPOCH_KEY, keyCacheKey } from '../../src/stores/shared-keys.ts'
import { CliError, EXIT } from './cli.ts'
import { reasonOf, UPSTASH_VARS, upstashFromEnv } from './upstash.ts'

export type Change = { revokedKeyHashes?: readonly string[] }

const STALE = 'cached configs may be served for up to 5 minutes'

export const invalidateCaches = async (
  env: NodeJS.ProcessEnv,
  change: Change,
  note: (text: string) => void,
): Promise<void> => {
  const redis = upstashFromEnv(env)
  if (redis === undefined) {
    note(`warning: ${UPSTASH_VARS} are not set, so gateway caches were not invalidated: ${STALE}`)
    return
  }
  let epoch: unknown
  try {
    const tx = redis.multi()
    for (const hash of change.revokedKeyHashes ?? []) tx.del(keyCacheKey(hash))
    tx.incr(CONFIG_EPOCH_KEY)
    epoch = (await tx.exec()).at(-1)
  } catch (error) {
    throw new CliError(
      `WARNING: the change IS SAVED, but the gateway caches could not be invalidated (Redis: ${reasonOf(
        error,
      )}); ${STALE}`,
      EXIT.cachesStale,
    )
  }
  note(`Gateway caches invalidated (config epoch ${String(epoch)}).`)
}
