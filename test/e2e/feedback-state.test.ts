/**
 * @module The Redis `FeedbackState` (`stores/upstash/feedback-state.ts`, one Lua script through
 * `@upstash/redis` against a real `redis-server` behind the Upstash REST bridge) held to the
 * embedded one and to `feedback/posterior.ts`: on random sequences of feedback — new and repeated
 * requests, several targets and metrics — both answer the same posteriors; concurrent feedback
 * from separate clients is all counted; a repeat replaces, counted once; keys expire.
 */
import { Redis } from '@upstash/redis/cloudflare'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forgetting } from '../../src/feedback/posterior.ts'
import { FEEDBACK_WINDOW_SECONDS } from '../../src/feedback/reference.ts'
import { memoryFeedbackState } from '../../src/stores/embedded/feedback-state.ts'
import { feedbackLastKey, feedbackStatsKey } from '../../src/stores/shared-keys.ts'
import { upstashFeedbackState } from '../../src/stores/upstash/feedback-state.ts'
import { startRedis, type RedisServer } from '../support/redis.ts'
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts'

const TOKEN = 'test-upstash-token-feedback'

let server: RedisServer
let bridge: UpstashBridge
let plain: Redis

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

const TARGETS = ['openai/gpt-4o-mini', 'groq/llama-3.3-70b-versatile', 'together/x/y']

describe('the Redis feedback state', () => {
  it('should fold random feedback exactly as the embedded state does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            target: fc.integer({ min: 0, max: 2 }),
            request: fc.integer({ min: 0, max: 15 }),
            reward: fc.double({ min: 0, max: 1, noNaN: true }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 200 }),
        async (feedbacks, halfLife) => {
          const org = `org_${crypto.randomUUID().slice(0, 8)}`
          const key = feedbackStatsKey(org, 'rabc', 'rating')
          const redis = upstashFeedbackState(client())
          const memory = memoryFeedbackState()
          const gamma = forgetting(halfLife)
          for (const f of feedbacks) {
            // A request is served by one target: its id decides which.
            const target = TARGETS[f.request % 3] ?? ''
            const replaces = `${org}-${String(f.request)}:rating`
            await redis.record(key, target, f.reward, replaces, gamma)
            await memory.record(key, target, f.reward, replaces, gamma)
          }
          const [shared, local] = [await redis.read(key), await memory.read(key)]
          expect([...shared.keys()].sort()).toEqual([...local.keys()].sort())
          for (const [target, p] of local) {
            const q = shared.get(target)
            expect(q?.n).toBe(p.n)
            expect(q?.a).toBeCloseTo(p.a, 9)
            expect(q?.b).toBeCloseTo(p.b, 9)
          }
        },
      ),
      { numRuns: 25, seed: 42 },
    )
  })

  it('should count every one of many concurrent feedbacks from separate clients', async () => {
    const key = feedbackStatsKey('org_concurrent', 'rabc', 'rating')
    const states = Array.from({ length: 4 }, () => upstashFeedbackState(client()))
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (states[i % 4] ?? upstashFeedbackState(client())).record(
          key,
          TARGETS[0] ?? '',
          i % 2,
          `req-${String(i)}:rating`,
          1,
        ),
      ),
    )
    const p = (await states[0]?.read(key))?.get(TARGETS[0] ?? '')
    expect(p).toEqual({ a: 100, b: 100, n: 200 })
  })

  it('should replace a repeat, counted once, and let every key expire', async () => {
    const key = feedbackStatsKey('org_repeat', 'rabc', 'stars')
    const state = upstashFeedbackState(client())
    await state.record(key, 'openai/gpt-4o-mini', 0.25, 'req-1:stars', 1)
    await state.record(key, 'openai/gpt-4o-mini', 1, 'req-1:stars', 1)
    expect((await state.read(key)).get('openai/gpt-4o-mini')).toEqual({ a: 1, b: 0, n: 1 })
    for (const name of [key, feedbackLastKey('org_repeat', 'req-1:stars')]) {
      const ttl = await plain.ttl(name)
      expect(ttl).toBeGreaterThan(FEEDBACK_WINDOW_SECONDS - 60)
      expect(ttl).toBeLessThanOrEqual(FEEDBACK_WINDOW_SECONDS)
    }
  })

  it('should read an absent rule as no posteriors', async () => {
    const state = upstashFeedbackState(client())
    expect((await state.read(feedbackStatsKey('org_none', 'rabc', 'rating'))).size).toBe(0)
  })
})
