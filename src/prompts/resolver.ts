/**
 * @module Resolving `floopy-prompt-id` (and its version) to a template: the isolate's memo, then
 * the shared cache in Redis, then the config store — the way keys are resolved
 * (`tenancy/resolver.ts`), with the same config epoch.
 *
 * A memoised answer costs no I/O: it stays good while the config epoch it was read under is the
 * current one, which every request's admission round trip brings back. So a label moved (or a
 * version added) with the admin CLI, which bumps the epoch, takes effect on the next request of
 * every isolate, and a memoised template never needs a round trip of its own. Answers are cached
 * in Redis tagged with the epoch, so a new isolate or a new epoch costs one Redis read, not a
 * store call, until the next change.
 *
 * Failure policy: the config store unreachable → the last known answer is served for up to
 * `STALE_GRACE_MS`, and one cached in Redis under an older epoch is used too; a prompt never seen
 * at all → 503 `PROMPT_UNAVAILABLE` with `Retry-After` (the request cannot be served without its
 * template). Redis unreachable → the store is asked directly.
 */
import { GatewayError } from '../errors'
import { alarm, describeError } from '../logging/alarm'
import type { PromptStore, SharedState } from '../stores'
import { promptCacheKey } from '../stores/shared-keys'
import { ResolvedPromptSchema, type ResolvedPrompt } from './template'

/** How long an answer is memoised per isolate (the epoch invalidates it sooner). */
export const MEMO_TTL_MS = 60_000
/** How long a known answer is served while the config store cannot be reached. */
export const STALE_GRACE_MS = 15 * 60_000
/** The most answers an isolate memoises. */
const MAX_MEMO = 2_000

type Entry = {
  /** `null`: there is no such prompt or version. */
  readonly value: ResolvedPrompt | null
  readonly epoch: number
  readonly expiresAt: number
  readonly staleUntil: number
}

export type Schedule = (work: Promise<unknown>) => void

export type PromptResolver = {
  /**
   * The version `selector` picks of the organisation's prompt, or `null` when there is none.
   * Throws `PROMPT_UNAVAILABLE` when it cannot be known. `schedule` runs cache fills after the
   * response.
   */
  resolve(
    orgId: string,
    promptId: string,
    selector: string | undefined,
    schedule: Schedule,
  ): Promise<ResolvedPrompt | null>
  /**
   * The memoised answer while it is current, with no I/O (`null`: there is no such prompt);
   * `undefined` when only `resolve` can tell. The first round trip uses it to key the cache on the
   * prompt a request will resolve to.
   */
  peek(
    orgId: string,
    promptId: string,
    selector: string | undefined,
  ): ResolvedPrompt | null | undefined
}

export const createPromptResolver = ({
  prompts,
  state,
  epoch,
  now = Date.now,
}: {
  prompts: PromptStore
  state: SharedState
  /** The config epoch this isolate last saw (the key resolver's). */
  epoch: () => number
  now?: () => number
}): PromptResolver => {
  const memo = new Map<string, Entry>()

  const remember = (id: string, entry: Entry): void => {
    memo.delete(id)
    if (memo.size >= MAX_MEMO) {
      const oldest = memo.keys().next()
      if (oldest.done !== true) memo.delete(oldest.value)
    }
    memo.set(id, entry)
  }

  const parse = (document: unknown): ResolvedPrompt | null =>
    document === null ? null : ResolvedPromptSchema.parse(document)

  /** The memo's entry for `id` while it is current at `at`. */
  const current = (id: string, at: number): Entry | undefined => {
    const known = memo.get(id)
    return known !== undefined && known.epoch === epoch() && at < known.expiresAt
      ? known
      : undefined
  }

  return {
    peek(orgId, promptId, selector) {
      return current(promptCacheKey(orgId, promptId, selector), now())?.value
    },
    async resolve(orgId, promptId, selector, schedule) {
      const at = now()
      const id = promptCacheKey(orgId, promptId, selector)
      const name = { kind: 'prompt', orgId, promptId, selector } as const
      const fresh = current(id, at)
      if (fresh !== undefined) return fresh.value
      const known = memo.get(id)
      let readEpoch = epoch()
      let cached: { epoch: number; config: unknown } | undefined
      try {
        const read = await state.readCached(name)
        readEpoch = read.epoch
        cached = read.cached
      } catch (err) {
        alarm('prompt cache unreachable: asking the config store', { error: describeError(err) })
      }
      const keep = (value: ResolvedPrompt | null, staleUntil = at + STALE_GRACE_MS) => {
        remember(id, { value, epoch: readEpoch, expiresAt: at + MEMO_TTL_MS, staleUntil })
        return value
      }
      if (cached !== undefined && cached.epoch === readEpoch) {
        try {
          return keep(parse(cached.config))
        } catch (err) {
          alarm('malformed prompt cache entry ignored', { error: describeError(err) })
        }
      }
      let document: unknown
      let value: ResolvedPrompt | null
      try {
        document = await prompts.resolve(orgId, promptId, selector)
        value = parse(document)
      } catch (err) {
        alarm('config store unreachable: prompt from what is known', { error: describeError(err) })
        if (known !== undefined && at < known.staleUntil) return known.value
        try {
          if (cached !== undefined) return keep(parse(cached.config), at)
        } catch {
          // an unreadable old entry is no answer either
        }
        throw new GatewayError(
          'PROMPT_UNAVAILABLE',
          `The prompt '${promptId}' could not be loaded right now. Please retry shortly.`,
          { headers: { 'retry-after': '5' } },
        )
      }
      schedule(
        state
          .writeCached(name, { epoch: readEpoch, config: document ?? null })
          .catch((err: unknown) => {
            alarm('prompt cache write failed', { error: describeError(err) })
          }),
      )
      return keep(value)
    },
  }
}
