/**
 * The failover walk on a clock of its own: which tries reach the circuit breakers. A try the
 * walk's deadline cut below the per-try time limit and that then timed out says nothing about its
 * target, so it is not recorded; every other outcome is.
 */
import { describe, expect, it, vi } from 'vitest'
import { GatewayError } from '../errors'
import { walkTargets, type Walk } from './failover'
import type { AttemptResult } from './health'
import { operatorTarget } from '../../test/support/unit'

const GPT = operatorTarget('openai', 'gpt-4o', 'operator-key')
const LLAMA = operatorTarget('groq', 'llama-3.3-70b-versatile', 'operator-key')

/** What one try does, given the time it was allowed: spend time, then answer or throw. */
type Outcome = (timeoutMs: number) => { spentMs: number; error?: GatewayError }

const timesOut: Outcome = (timeoutMs) => ({
  spentMs: timeoutMs,
  error: new GatewayError('PROVIDER_TIMEOUT', 'no response in time'),
})

const fails503: Outcome = () => ({
  spentMs: 5,
  error: new GatewayError('PROVIDER_ERROR', 'unavailable', { status: 503 }),
})

const answers: Outcome = () => ({ spentMs: 5 })

const walkOf = (
  outcomes: Record<string, Outcome>,
  { attemptTimeoutMs, deadlineMs }: { attemptTimeoutMs: number; deadlineMs: number },
) => {
  let clock = 1_000
  const recorded: [string, AttemptResult][] = []
  const allowed: [string, number][] = []
  const walk: Walk = {
    targets: [GPT, LLAMA],
    health: {
      admit: vi.fn(() => Promise.resolve({ allowed: true, probe: false })),
      record: (id, result) => {
        recorded.push([id, result])
        return true
      },
    },
    retry: { maxAttemptsPerTarget: 1, baseDelayMs: 0, maxDelayMs: 0, retryAfterCapMs: 0 },
    attemptTimeoutMs,
    deadlineMs,
    attempt: (t, timeoutMs) => {
      allowed.push([t.healthId, timeoutMs])
      const outcome = (outcomes[t.healthId] ?? answers)(timeoutMs)
      clock += outcome.spentMs
      if (outcome.error !== undefined) return Promise.reject(outcome.error)
      return Promise.resolve({ response: new Response('ok'), latencyMs: outcome.spentMs })
    },
    failures: [],
    now: () => clock,
    random: () => 0.5,
    sleep: (ms) => {
      clock += ms
      return Promise.resolve()
    },
  }
  return { walk, recorded, allowed }
}

const code = async (work: Promise<unknown>): Promise<string> => {
  try {
    await work
  } catch (err) {
    return err instanceof GatewayError ? err.code : 'not a GatewayError'
  }
  return 'answered'
}

describe('walkTargets and the circuit breakers', () => {
  it('should record a try that timed out with its whole time limit as a failure', async () => {
    const { walk, recorded } = walkOf(
      { 'openai/gpt-4o': timesOut },
      { attemptTimeoutMs: 80, deadlineMs: 1_000 },
    )
    expect(await code(walkTargets(walk))).toBe('answered')
    expect(recorded).toEqual([
      ['openai/gpt-4o', { ok: false, probe: false }],
      ['groq/llama-3.3-70b-versatile', { ok: true, probe: false, latencyMs: 5 }],
    ])
  })

  it('should not record a try the deadline cut short that then timed out', async () => {
    const { walk, recorded, allowed } = walkOf(
      { 'openai/gpt-4o': timesOut, 'groq/llama-3.3-70b-versatile': timesOut },
      { attemptTimeoutMs: 80, deadlineMs: 100 },
    )
    expect(await code(walkTargets(walk))).toBe('NO_PROVIDER_AVAILABLE')
    // The second target had only what the first left of the deadline.
    expect(allowed).toEqual([
      ['openai/gpt-4o', 80],
      ['groq/llama-3.3-70b-versatile', 20],
    ])
    expect(recorded).toEqual([['openai/gpt-4o', { ok: false, probe: false }]])
    expect(walk.failures).toEqual([
      'openai/gpt-4o: 504 PROVIDER_TIMEOUT',
      'groq/llama-3.3-70b-versatile: 504 PROVIDER_TIMEOUT (cut short by the routing deadline)',
    ])
  })

  it('should still record a cut-short try that the provider failed or answered', async () => {
    const failed = walkOf(
      { 'openai/gpt-4o': timesOut, 'groq/llama-3.3-70b-versatile': fails503 },
      { attemptTimeoutMs: 80, deadlineMs: 100 },
    )
    expect(await code(walkTargets(failed.walk))).toBe('NO_PROVIDER_AVAILABLE')
    expect(failed.recorded.at(-1)).toEqual([
      'groq/llama-3.3-70b-versatile',
      { ok: false, probe: false },
    ])

    const answered = walkOf(
      { 'openai/gpt-4o': timesOut },
      { attemptTimeoutMs: 80, deadlineMs: 100 },
    )
    expect(await code(walkTargets(answered.walk))).toBe('answered')
    expect(answered.recorded.at(-1)).toEqual([
      'groq/llama-3.3-70b-versatile',
      { ok: true, probe: false, latencyMs: 5 },
    ])
  })
})
