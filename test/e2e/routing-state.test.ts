/**
 * @module The Redis `RoutingState` (`stores/upstash/routing-state.ts`, Lua scripts run through
 * `@upstash/redis` against a real `redis-server` behind the Upstash REST bridge) held to the
 * embedded one (`stores/embedded/routing-state.ts`, the pure TypeScript state machines). What is
 * proven:
 *
 * - on random histories of syncs and probe reservations, with time jumping across bucket
 *   boundaries, cool-downs and window expiry, under the default and non-default breaker
 *   configurations, both answer the same breaker states, probe decisions and latency averages
 *   after every step;
 * - concurrent reports from separate clients are all counted (the script is atomic);
 * - one sync answers every reported and watched target, and merely watching a target writes
 *   nothing; two reports for one target in one sync are applied in order, as the embedded state
 *   applies them;
 * - every hash a script writes expires within `TARGET_TTL_MS`;
 * - `parseTargetHash` reads anything unreadable as a closed breaker, never throwing.
 */
import { Redis } from '@upstash/redis/cloudflare'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_BREAKER, windowCounts, type BreakerConfig } from '../../src/routing/breaker.ts'
import { DEFAULT_EWMA_ALPHA } from '../../src/routing/strategies.ts'
import { memoryRoutingState } from '../../src/stores/embedded/routing-state.ts'
import type { RoutingState, TargetHealth, TargetReport } from '../../src/stores/index.ts'
import { targetHealthKey } from '../../src/stores/shared-keys.ts'
import {
  parseTargetHash,
  TARGET_TTL_MS,
  upstashRoutingState,
} from '../../src/stores/upstash/routing-state.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts'

const TOKEN = 'test-upstash-token-routing'

/** A multiple of every bucket size used below, so steps of whole buckets land on boundaries. */
const BASE = 1_700_000_040_000

let server: RedisServer
let bridge: UpstashBridge
/** A plain client, to look at keys behind the adapter's back. */
let plain: Redis

/** A client configured as production configures it (`upstashRedis`). */
const client = (): Redis =>
  new Redis({
    url: bridge.url,
    token: TOKEN,
    retry: false,
    enableTelemetry: false,
    enableAutoPipelining: true,
  })

beforeAll(async () => {
  server = await startRedis()
  bridge = await startUpstashBridge({ redisUrl: server.url, token: TOKEN })
  plain = new Redis({ url: bridge.url, token: TOKEN, enableAutoPipelining: false })
})

afterAll(async () => {
  await bridge.close()
  await server.close()
})

let fresh = 0
/** A target id no earlier test used. */
const freshId = (label: string): string => `test/${label}-${String(++fresh)}`

const report = (
  id: string,
  ok: number,
  failed: number,
  extra: { probe?: boolean; latencyCount?: number; latencyMeanMs?: number } = {},
): TargetReport => ({
  id,
  outcomes: { ok, failed, probe: extra.probe },
  latencyCount: extra.latencyCount ?? 0,
  latencyMeanMs: extra.latencyMeanMs ?? 0,
})

/**
 * The two answers must agree: breakers deep-equal (closed buckets as lists sorted by start),
 * latency sample counts equal and averages within 1e-9 relative (the Lua stores `%.17g`, and its
 * `^` need not round like `**`).
 */
const expectSameHealth = (redis: TargetHealth | undefined, memory: TargetHealth | undefined) => {
  expect(redis === undefined).toBe(memory === undefined)
  if (redis === undefined || memory === undefined) return
  const sorted = (health: TargetHealth): TargetHealth['breaker'] =>
    health.breaker.status === 'closed'
      ? { status: 'closed', buckets: [...health.breaker.buckets].sort((a, b) => a.start - b.start) }
      : health.breaker
  expect(sorted(redis)).toEqual(sorted(memory))
  expect(redis.latency?.samples).toBe(memory.latency?.samples)
  if (redis.latency !== undefined && memory.latency !== undefined) {
    const { ewmaMs } = memory.latency
    expect(Math.abs(redis.latency.ewmaMs - ewmaMs)).toBeLessThanOrEqual(
      1e-9 * Math.max(1, Math.abs(ewmaMs)),
    )
  }
}

const expectSameAnswers = (
  redis: Map<string, TargetHealth>,
  memory: Map<string, TargetHealth>,
): void => {
  expect([...redis.keys()].sort()).toEqual([...memory.keys()].sort())
  for (const [id, health] of memory) expectSameHealth(redis.get(id), health)
}

// --- the differential property -------------------------------------------------------------

type Setup = { readonly config: BreakerConfig; readonly alpha: number }

/** 1 s buckets, opens on 3 outcomes, two probes to close, a faster-moving average. */
const TWO_PROBES: Setup = {
  config: {
    windowMs: 10_000,
    minRequests: 3,
    failureRate: 0.5,
    coolDownMs: 5_000,
    halfOpenProbes: 2,
  },
  alpha: 0.5,
}

const SETUPS: readonly Setup[] = [
  { config: DEFAULT_BREAKER, alpha: DEFAULT_EWMA_ALPHA },
  TWO_PROBES,
  // 2 s buckets; a single failure in three opens it; three probes to close.
  {
    config: {
      windowMs: 20_000,
      minRequests: 1,
      failureRate: 0.3,
      coolDownMs: 8_000,
      halfOpenProbes: 3,
    },
    alpha: DEFAULT_EWMA_ALPHA,
  },
]

/** How far a step moves the clock: 0–20 s, often exactly onto a boundary or just either side. */
const stepMs: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 20_000 }),
  fc.constantFrom(0, 0, 1, 999, 1_000, 1_001, 1_999, 2_000, 2_001, 2_999, 3_000, 3_001),
  fc.constantFrom(4_999, 5_000, 5_001, 7_999, 8_000, 8_001, 9_999, 10_000, 10_001),
  fc.constantFrom(14_999, 15_000, 15_001, 17_999, 18_000, 19_999, 20_000),
)

type Outcome = {
  readonly ok: number
  readonly failed: number
  readonly probe: boolean | undefined
  readonly latencyCount: number
  readonly latencyMeanMs: number
}

type SyncStep = {
  readonly kind: 'sync'
  readonly dt: number
  /** The target's reports, applied in order: none (a sync that only watches), one, or two. */
  readonly outcomes: readonly Outcome[]
  readonly watchTarget: boolean
  readonly watchOther: boolean
}
type ReserveStep = { readonly kind: 'reserve'; readonly dt: number }
type Step = SyncStep | ReserveStep

const count = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 3 }),
  fc.integer({ min: 0, max: 12 }),
)

const outcome: fc.Arbitrary<Outcome> = fc.record({
  ok: count,
  failed: count,
  probe: fc.constantFrom(undefined, true, false),
  latencyCount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 })),
  latencyMeanMs: fc.oneof(
    fc.integer({ min: 0, max: 5_000 }),
    fc.double({ min: 0, max: 5_000, noNaN: true }),
  ),
})

const syncStep: fc.Arbitrary<SyncStep> = fc.record({
  kind: fc.constant('sync' as const),
  dt: stepMs,
  outcomes: fc.oneof(
    { arbitrary: fc.tuple(outcome), weight: 8 },
    { arbitrary: fc.constant([]), weight: 1 },
    { arbitrary: fc.tuple(outcome, outcome), weight: 1 },
  ),
  watchTarget: fc.boolean(),
  watchOther: fc.boolean(),
})

const reserveStep: fc.Arbitrary<ReserveStep> = fc.record({
  kind: fc.constant('reserve' as const),
  dt: stepMs,
})

const history = fc.record({
  setup: fc.constantFrom(...SETUPS),
  offset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_999 })),
  steps: fc.array(
    fc.oneof({ arbitrary: syncStep, weight: 3 }, { arbitrary: reserveStep, weight: 2 }),
    {
      minLength: 10,
      maxLength: 50,
    },
  ),
})

/** Runs one step on both states and requires the same answer. */
const stepBoth = async (
  step: Step,
  now: number,
  ids: { target: string; other: string },
  redis: RoutingState,
  memory: RoutingState,
): Promise<void> => {
  if (step.kind === 'reserve') {
    const [fromRedis, fromMemory] = await Promise.all([
      redis.reserveProbe(ids.target, now),
      memory.reserveProbe(ids.target, now),
    ])
    expect(fromRedis.allowed).toBe(fromMemory.allowed)
    expectSameHealth(fromRedis.health, fromMemory.health)
    return
  }
  const reports = step.outcomes.map((outcome) => ({ id: ids.target, ...toReport(outcome) }))
  const watch = [...(step.watchTarget ? [ids.target] : []), ...(step.watchOther ? [ids.other] : [])]
  const [fromRedis, fromMemory] = await Promise.all([
    redis.sync(reports, watch, now),
    memory.sync(reports, watch, now),
  ])
  expectSameAnswers(fromRedis, fromMemory)
}

const toReport = (outcome: Outcome): Omit<TargetReport, 'id'> => ({
  outcomes: { ok: outcome.ok, failed: outcome.failed, probe: outcome.probe },
  latencyCount: outcome.latencyCount,
  latencyMeanMs: outcome.latencyMeanMs,
})

describe('upstashRoutingState against memoryRoutingState', () => {
  it('should give the same answers after every step of random histories', async () => {
    const redisClient = client()
    const statesFor = new Map(
      SETUPS.map((setup) => [setup, upstashRoutingState(redisClient, setup.config, setup.alpha)]),
    )
    let runs = 0
    await fc.assert(
      fc.asyncProperty(history, async ({ setup, offset, steps }) => {
        runs++
        const ids = { target: freshId('history'), other: freshId('watched') }
        const redis =
          statesFor.get(setup) ?? upstashRoutingState(redisClient, setup.config, setup.alpha)
        const memory = memoryRoutingState(setup.config, setup.alpha)
        let now = BASE + offset
        for (const step of steps) {
          now += step.dt
          await stepBoth(step, now, ids, redis, memory)
        }
        expect(await plain.exists(targetHealthKey(ids.other))).toBe(0)
      }),
      { numRuns: 300 },
    )
    expect(runs).toBeGreaterThanOrEqual(300)
  }, 300_000)

  it('should agree on the transitions a random history may miss', async () => {
    // Closed → open → half-open (two probes) → one success → a lost reservation → close.
    const setup = TWO_PROBES
    const redis = upstashRoutingState(client(), setup.config, setup.alpha)
    const memory = memoryRoutingState(setup.config, setup.alpha)
    const target = freshId('transitions')
    const ids = { target, other: freshId('watched') }
    const { coolDownMs } = setup.config
    const sync = (outcome: Outcome, dt: number): SyncStep => ({
      kind: 'sync',
      dt,
      outcomes: [outcome],
      watchTarget: true,
      watchOther: true,
    })
    const plainOutcome = { probe: undefined, latencyCount: 0, latencyMeanMs: 0 }
    const steps: Step[] = [
      sync({ ...plainOutcome, ok: 1, failed: 0, latencyCount: 2, latencyMeanMs: 120 }, 0),
      sync({ ...plainOutcome, ok: 0, failed: 3 }, 1_000),
      { kind: 'reserve', dt: coolDownMs - 1 },
      { kind: 'reserve', dt: 1 },
      { kind: 'reserve', dt: 0 },
      { kind: 'reserve', dt: 0 },
      sync(
        { ...plainOutcome, ok: 0, failed: 0, probe: true, latencyCount: 1, latencyMeanMs: 80 },
        10,
      ),
      { kind: 'reserve', dt: 10 },
      { kind: 'reserve', dt: coolDownMs },
      sync({ ...plainOutcome, ok: 5, failed: 0, probe: true }, 10),
      sync({ ...plainOutcome, ok: 0, failed: 2 }, 10),
    ]
    let now = BASE
    const seen: string[] = []
    for (const step of steps) {
      now += step.dt
      await stepBoth(step, now, ids, redis, memory)
      const health = (await memory.sync([], [target], now)).get(target)
      seen.push(health?.breaker.status ?? 'none')
    }
    expect(seen).toEqual([
      'closed',
      'open',
      'open',
      'half-open',
      'half-open',
      'half-open',
      'half-open',
      'half-open',
      'half-open',
      'closed',
      'closed',
    ])
  })
})

describe('upstashRoutingState', () => {
  it('should count every one of 40 concurrent reports from separate clients', async () => {
    const id = freshId('concurrent')
    const now = BASE + 123
    const states = Array.from({ length: 40 }, () => upstashRoutingState(client()))
    await Promise.all(
      states.map((state, i) =>
        state.sync([report(id, 3, 0, { latencyCount: 1, latencyMeanMs: 100 + i })], [], now),
      ),
    )
    const health = (await upstashRoutingState(plain).sync([], [id], now + 1)).get(id)
    expect(health?.breaker.status).toBe('closed')
    if (health === undefined) throw new Error('no answer')
    expect(windowCounts(health.breaker, now + 1)).toEqual({ requests: 120, failures: 0 })
    expect(health.latency?.samples).toBe(40)
    const fields = await plain.hgetall<Record<string, unknown>>(targetHealthKey(id))
    expect(Object.entries(fields ?? {}).filter(([field]) => field.startsWith('o'))).toHaveLength(1)
  })

  it('should answer every reported and watched id, writing nothing for a watched one', async () => {
    const [x, y, z, unknown] = [freshId('x'), freshId('y'), freshId('z'), freshId('unknown')]
    const redis = upstashRoutingState(client())
    const memory = memoryRoutingState()
    const now = BASE + 7
    await redis.sync([report(z, 1, 0)], [], now)
    await memory.sync([report(z, 1, 0)], [], now)
    const reports = [report(x, 2, 1, { latencyCount: 2, latencyMeanMs: 250 }), report(y, 0, 20)]
    const watch = [y, z, unknown, unknown]
    const answer = await redis.sync(reports, watch, now + 1)
    expect([...answer.keys()].sort()).toEqual([x, y, z, unknown].sort())
    expectSameAnswers(answer, await memory.sync(reports, watch, now + 1))
    expect(answer.get(y)?.breaker).toEqual({ status: 'open', openedAt: now + 1 })
    expect(answer.get(unknown)).toEqual({
      breaker: { status: 'closed', buckets: [] },
      latency: undefined,
    })
    expect(await plain.exists(targetHealthKey(unknown))).toBe(0)
    expect(await plain.exists(targetHealthKey(x), targetHealthKey(y), targetHealthKey(z))).toBe(3)
    // Reserving on a closed target writes nothing either.
    const reserved = await redis.reserveProbe(unknown, now + 2)
    expect(reserved).toEqual({ allowed: true, health: answer.get(unknown) })
    expect(await plain.exists(targetHealthKey(unknown))).toBe(0)
  })

  it('should apply two reports for one target in one sync in order, as memory does', async () => {
    const [id, watched] = [freshId('twice'), freshId('bystander')]
    const redis = upstashRoutingState(client())
    const memory = memoryRoutingState()
    const reports = [report(id, 4, 0), report(id, 0, 7, { latencyCount: 1, latencyMeanMs: 50 })]
    const now = BASE + 11
    const answer = await redis.sync(reports, [watched], now)
    expectSameAnswers(answer, await memory.sync(reports, [watched], now))
    // 4 successes then 7 failures: 11 outcomes, 64 % failed, so the second report opens it.
    expect(answer.get(id)?.breaker).toEqual({ status: 'open', openedAt: now })
    // The bystander is read, not written: no report of the other target lands on it.
    expect(answer.get(watched)).toEqual({
      breaker: { status: 'closed', buckets: [] },
      latency: undefined,
    })
    expect(await plain.exists(targetHealthKey(watched))).toBe(0)
  })

  it('should set an expiry on every hash a script writes', async () => {
    const id = freshId('ttl')
    const key = targetHealthKey(id)
    const redis = upstashRoutingState(client())
    const now = BASE
    await redis.sync([report(id, 0, 0, { latencyCount: 1, latencyMeanMs: 10 })], [], now)
    const expectTtl = async (): Promise<void> => {
      const ttl = await plain.pttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(TARGET_TTL_MS)
    }
    await expectTtl()
    await plain.persist(key)
    await redis.sync([report(id, 0, DEFAULT_BREAKER.minRequests)], [], now)
    await expectTtl()
    await plain.persist(key)
    const { allowed } = await redis.reserveProbe(id, now + DEFAULT_BREAKER.coolDownMs)
    expect(allowed).toBe(true)
    await expectTtl()
    await plain.persist(key)
    await redis.sync([report(id, 0, 0, { probe: true })], [], now + DEFAULT_BREAKER.coolDownMs)
    await expectTtl()
  })
})

describe('parseTargetHash', () => {
  const closed = { status: 'closed', buckets: [] }

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 's open oa 5'],
    ['a number', 42],
    ['an object', { s: 'open', oa: 5 }],
    ['an odd-length list', ['s', 'open', 'oa']],
    ['an open breaker with no time', ['s', 'open']],
    ['an open breaker with a non-numeric time', ['s', 'open', 'oa', 'yesterday']],
    [
      'a half-open breaker with a non-numeric count',
      ['s', 'half-open', 'if', '1', 'sc', 'x', 'pa', '3'],
    ],
    ['an unknown status', ['s', 'ajar', 'oa', '5']],
    // What the client's JSON parsing of a reply string can make: `String()` on it would throw.
    ['an unprintable field name', [JSON.parse('{"toString":0}'), 'open', 's', 'open']],
    ['an unprintable open time', ['s', 'open', 'oa', JSON.parse('{"toString":0}')]],
  ])('should read %s as a closed breaker', (_label, flat) => {
    const health = parseTargetHash(flat)
    expect(health.breaker).toEqual(closed)
    expect(health.latency).toBeUndefined()
  })

  it('should ignore an unreadable latency and fields that are not buckets', () => {
    expect(parseTargetHash(['n', 'many', 'ew', '12'])).toEqual({
      breaker: closed,
      latency: undefined,
    })
    expect(parseTargetHash(['n', '3', 'ew', 'fast'])).toEqual({
      breaker: closed,
      latency: undefined,
    })
    expect(parseTargetHash(['ox', '3', 'f', '2', 'o12a', '1', 'q5', '1'])).toEqual({
      breaker: closed,
      latency: undefined,
    })
    // Numbers as the client may have deserialised them read as their strings do.
    expect(parseTargetHash(['o3000', 2, 'f3000', '1', 'n', 4, 'ew', 12.5])).toEqual({
      breaker: { status: 'closed', buckets: [{ start: 3000, ok: 2, failed: 1 }] },
      latency: { ewmaMs: 12.5, samples: 4 },
    })
  })

  it('should never throw, nor answer a non-finite breaker time or count, nor a bad average', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.array(
            fc.oneof(
              fc.constantFrom('s', 'open', 'half-open', 'oa', 'if', 'sc', 'pa', 'n', 'ew', 'o0'),
              fc.string(),
              fc.double(),
            ),
          ),
        ),
        (flat) => {
          const { breaker, latency } = parseTargetHash(flat)
          const numbers = Object.values(breaker).filter((value) => typeof value === 'number')
          expect(numbers.every(Number.isFinite)).toBe(true)
          if (latency !== undefined) {
            expect(Number.isFinite(latency.ewmaMs)).toBe(true)
            // A fractional count (never written by the scripts) floors to 0, which every reader
            // takes as unmeasured (`samples <= 0`); only a negative or NaN count would mislead.
            expect(latency.samples).toBeGreaterThanOrEqual(0)
          }
        },
      ),
      { numRuns: 5_000 },
    )
  })
})
