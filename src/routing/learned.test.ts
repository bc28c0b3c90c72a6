/**
 * The feedback posteriors' memo: a rule's posteriors are read from shared state at most once per
 * sync interval, never twice at once, and a failed read keeps what was known. Times are taken
 * around each read (the memo stamps a read with the clock when it lands), so no outcome depends
 * on how fast the machine runs.
 */
import { describe, expect, it } from 'vitest'
import type { FeedbackState, TargetPosteriors } from '../stores'
import { SYNC_INTERVAL_MS } from './health'
import { createLearnedRouting, type LearnedRouting } from './learned'

const KEY = 'floopy:feedback:org:rule:rating'

/** Shared state that answers each read with the next of `answers` (an Error: the read fails). */
const sharedState = (answers: (TargetPosteriors | Error)[]): FeedbackState & { reads: number } => {
  const state = {
    reads: 0,
    read(): Promise<TargetPosteriors> {
      const answer = answers[state.reads++] ?? new Map()
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)
    },
    record: () => Promise.resolve(),
  }
  return state
}

const posteriors = (a: number): TargetPosteriors =>
  new Map([['openai/gpt-4o-mini', { a, b: 1, n: a + 1 }]])

/** Refreshes `KEY` (a read must be due) and answers the clock's bounds around its landing. */
const refreshed = async (
  learned: LearnedRouting,
  now: number,
): Promise<{ before: number; after: number }> => {
  const before = Date.now()
  const read = learned.refresh(KEY, now)
  expect(read).toBeDefined()
  await read
  return { before, after: Date.now() }
}

describe('createLearnedRouting', () => {
  it('should read a rule at most once per sync interval, one read at a time', async () => {
    const state = sharedState([posteriors(3), posteriors(5)])
    const learned = createLearnedRouting(state)
    expect(learned.posteriors(KEY).size).toBe(0)
    const first = learned.refresh(KEY, Date.now())
    expect(learned.refresh(KEY, Date.now())).toBeUndefined() // the first is still in flight
    const before = Date.now()
    await first
    const after = Date.now()
    expect(learned.posteriors(KEY)).toEqual(posteriors(3))
    expect(learned.refresh(KEY, before + SYNC_INTERVAL_MS - 1)).toBeUndefined()
    await refreshed(learned, after + SYNC_INTERVAL_MS)
    expect(learned.posteriors(KEY)).toEqual(posteriors(5))
    expect(state.reads).toBe(2)
  })

  it('should take its sync interval from the caller', async () => {
    const state = sharedState([posteriors(3), posteriors(5)])
    const learned = createLearnedRouting(state, 60_000)
    const { before, after } = await refreshed(learned, Date.now())
    expect(learned.refresh(KEY, before + 59_999)).toBeUndefined()
    await refreshed(learned, after + 60_000)
    expect(state.reads).toBe(2)
  })

  it('should keep what it knew when a read fails', async () => {
    const state = sharedState([posteriors(3), new Error('Redis is down')])
    const learned = createLearnedRouting(state)
    const { after } = await refreshed(learned, Date.now())
    await refreshed(learned, after + SYNC_INTERVAL_MS)
    expect(state.reads).toBe(2)
    expect(learned.posteriors(KEY)).toEqual(posteriors(3))
  })
})
