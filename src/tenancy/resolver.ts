/**
 * @module Key resolution: per-isolate memo → shared cache (Redis) → config store (Supabase).
 *
 * - A presented key is checked for shape and checksum first (`parseApiKey`): a malformed key is
 *   refused with no I/O at all.
 * - The memo maps presented keys to their tenant for `MEMO_TTL_MS`, tagged with the config epoch
 *   it was filled under. Every admission round trip (`stages/limits`) brings the current epoch
 *   back; the admin CLI increments it on every change, so when it moves, each memo entry is
 *   re-validated on its next use. A revoked key therefore stops working on the first request
 *   after the change, in every isolate.
 * - On a memo miss, one shared-state round trip reads the cached config and the epoch together; a
 *   cached config counts only if it was written under the current epoch (a config read from the
 *   store just before a change can never outlive the change). Otherwise the config store answers
 *   and its answer is cached for the next isolate, after the response (`waitUntil`).
 *
 * Failure policy: shared state unreachable → straight to the config store. Config store
 * unreachable too → the last known answer for this key (up to `STALE_GRACE_MS` old) if the memo
 * has one, else 503 `AUTH_UNAVAILABLE` with `Retry-After`. Never a 401 for a key that could not
 * be checked, never an unexplained 500.
 */
import { GatewayError } from '../errors'
import { alarm, describeError } from '../logging/alarm'
import { hashApiKey, parseApiKey } from '../security/api-key'
import type { KeyStore, SharedState } from '../stores'
import { parseKeyConfig, type Tenant } from './tenant'

/** How long a memoised answer is used without asking shared state (when the epoch is unchanged). */
export const MEMO_TTL_MS = 60_000
/** How long a refused key's answer is memoised (spares the stores a flood of one wrong key). */
const REFUSED_TTL_MS = 10_000
/** How old a memoised answer may be and still serve while both stores are unreachable. */
export const STALE_GRACE_MS = 15 * 60_000
const MAX_ACCEPTED = 10_000
const MAX_REFUSED = 1_000

type MemoEntry = {
  readonly tenant: Tenant | undefined
  readonly epoch: number
  readonly expiresAt: number
  readonly staleUntil: number
}

export type Schedule = (work: Promise<unknown>) => void

export interface KeyResolver {
  /**
   * The tenant a presented key belongs to, or `undefined` when it is not a valid key. Throws
   * `GatewayError('AUTH_UNAVAILABLE')` when the key cannot be checked. `schedule` runs the cache
   * fill after the response. `revalidate` skips the memo: a stage about to refuse a memoised
   * tenant (402) checks first that the refusal is still current.
   */
  resolve(
    presented: string,
    schedule: Schedule,
    options?: { revalidate?: boolean },
  ): Promise<Tenant | undefined>
  /** Records the epoch a round trip saw; `true` when it moved, i.e. memoised configs are stale. */
  observeEpoch(epoch: number): boolean
  /** The config epoch this isolate last saw (other memoised configs are checked against it). */
  epoch(): number
}

/** Bounded insertion-ordered map: the oldest entry goes when full. */
const remember = (
  map: Map<string, MemoEntry>,
  max: number,
  key: string,
  entry: MemoEntry,
): void => {
  map.delete(key)
  if (map.size >= max) {
    const oldest = map.keys().next()
    if (oldest.done !== true) map.delete(oldest.value)
  }
  map.set(key, entry)
}

export const createKeyResolver = ({
  keys,
  state,
  now = Date.now,
}: {
  keys: KeyStore
  state: SharedState
  now?: () => number
}): KeyResolver => {
  const accepted = new Map<string, MemoEntry>()
  const refused = new Map<string, MemoEntry>()
  let epoch = 0

  const fromStores = async (
    presented: string,
    previous: MemoEntry | undefined,
    schedule: Schedule,
  ): Promise<{ tenant: Tenant | undefined; readEpoch: number; stale?: MemoEntry }> => {
    const hash = await hashApiKey(presented)
    const name = { kind: 'key', keyHash: hash } as const
    let cached
    try {
      const read = await state.readCached(name)
      epoch = read.epoch
      cached = read.cached
    } catch (err) {
      alarm('key cache unreachable: asking the config store', { error: describeError(err) })
    }
    const readEpoch = epoch
    if (cached !== undefined && cached.epoch === readEpoch) {
      try {
        const tenant = cached.config === null ? undefined : parseKeyConfig(cached.config)
        return { tenant, readEpoch }
      } catch (err) {
        alarm('malformed key cache entry ignored', { error: describeError(err) })
      }
    }
    let tenant: Tenant | undefined
    let document: unknown
    try {
      document = await keys.lookup(hash)
      tenant = document === null ? undefined : parseKeyConfig(document)
    } catch (err) {
      if (previous !== undefined && now() < previous.staleUntil) {
        alarm('config store unreachable: serving the last known answer', {
          error: describeError(err),
        })
        return { tenant: previous.tenant, readEpoch, stale: previous }
      }
      alarm('config store unreachable: key cannot be checked', { error: describeError(err) })
      throw new GatewayError(
        'AUTH_UNAVAILABLE',
        'The API key could not be verified right now. Please retry shortly.',
        { headers: { 'retry-after': '5' } },
      )
    }
    schedule(
      state.writeCached(name, { epoch: readEpoch, config: document }).catch((err: unknown) => {
        alarm('key cache write failed', { error: describeError(err) })
      }),
    )
    return { tenant, readEpoch }
  }

  return {
    async resolve(presented, schedule, options) {
      const at = now()
      const memo = accepted.get(presented) ?? refused.get(presented)
      const usable = memo !== undefined && memo.epoch === epoch && at < memo.expiresAt
      if (usable && options?.revalidate !== true) return memo.tenant
      if (memo === undefined && !parseApiKey(presented).ok) return undefined
      const { tenant, readEpoch, stale } = await fromStores(presented, memo, schedule)
      // Tagged with the epoch read before the lookup: if a change lands meanwhile, the answer is
      // already stale. A stale answer is retried soon and never extends its own grace period.
      const entry = {
        tenant,
        epoch: readEpoch,
        expiresAt:
          at + (tenant === undefined || stale !== undefined ? REFUSED_TTL_MS : MEMO_TTL_MS),
        staleUntil: stale?.staleUntil ?? at + STALE_GRACE_MS,
      }
      if (tenant === undefined) {
        accepted.delete(presented)
        remember(refused, MAX_REFUSED, presented, entry)
      } else {
        refused.delete(presented)
        remember(accepted, MAX_ACCEPTED, presented, entry)
      }
      return tenant
    },
    observeEpoch(seen) {
      if (seen === epoch) return false
      epoch = seen
      return true
    },
    epoch: () => epoch,
  }
}
