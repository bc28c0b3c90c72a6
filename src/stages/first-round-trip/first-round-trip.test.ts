/**
 * The first round trip: every part contributes its command first, then all the commands are
 * issued in one tick — before the next stage runs and before any result is awaited — so they
 * leave as one pipeline request. Each result settles as its command does and is awaited only by
 * the stage that needs it; a rejected result that nobody awaits (the request was refused first)
 * is no unhandled rejection, and a command that throws as it is issued rejects only its own
 * result. With the production parts (admission and the routing-health sync) both commands start
 * before either has answered.
 */
import { Hono } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StageEnv } from '../../env'
import { GatewayError, toGatewayError } from '../../errors'
import type { HealthTracker } from '../../routing/health'
import type { Admission, AdmissionRequest, SharedState } from '../../stores'
import { memoryState } from '../../stores/embedded/memory-state'
import type { Tenant } from '../../tenancy/tenant'
import type { AuthVariables } from '../authenticate'
import { admission, type AdmissionVariables } from '../limits'
import { healthSync, type HealthSyncVariables } from '../route'
import { firstRoundTrip, type RoundTripPart } from '.'
import { testTenant } from '../../../test/support/unit'

/** A promise settled from outside. */
const deferred = <T>() => {
  let resolve: (value: T) => void = () => undefined
  let reject: (reason: Error) => void = () => undefined
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets every pending microtask and one macrotask run (a settled rejection is reported by then). */
const turn = (): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, 0)
  })

type Vars = { a: Promise<string>; b: Promise<string> }

/** A part that logs when it contributes and when its command is issued. */
const part = (
  name: keyof Vars,
  log: string[],
  issue: () => Promise<string>,
): RoundTripPart<Vars> => ({
  contribute(c, batch) {
    log.push(`contribute ${name}`)
    c.set(
      name,
      batch.add(() => {
        log.push(`issue ${name}`)
        return issue()
      }),
    )
  },
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('firstRoundTrip', () => {
  it('should issue every command after all parts contributed, in order, before the next stage', async () => {
    const log: string[] = []
    const app = new Hono<StageEnv<Vars>>()
    app.use(
      firstRoundTrip([
        part('a', log, () => Promise.resolve('A')),
        part('b', log, () => Promise.resolve('B')),
      ]),
    )
    app.get('/', async (c) => {
      log.push('next')
      return c.json([await c.get('a'), await c.get('b')])
    })
    const res = await app.request('/')
    expect(await res.json()).toEqual(['A', 'B'])
    expect(log).toEqual(['contribute a', 'contribute b', 'issue a', 'issue b', 'next'])
  })

  it('should start every command in the same tick, before any is awaited', async () => {
    const ticks: boolean[] = []
    let ticked = false
    const a = deferred<string>()
    const b = deferred<string>()
    const watch = (pending: Promise<string>) => () => {
      ticks.push(ticked)
      return pending
    }
    const log: string[] = []
    const first: RoundTripPart<Vars> = {
      contribute(c, batch) {
        // Flips once the current tick's synchronous work is over.
        queueMicrotask(() => {
          ticked = true
        })
        part('a', log, watch(a.promise)).contribute(c, batch)
      },
    }
    let atNext: boolean[] = []
    const app = new Hono<StageEnv<Vars>>()
    app.use(firstRoundTrip([first, part('b', log, watch(b.promise))]))
    app.get('/', async (c) => {
      atNext = [...ticks]
      // Neither command has answered yet: they answer only now.
      a.resolve('A')
      b.resolve('B')
      return c.json([await c.get('a'), await c.get('b')])
    })
    const res = await app.request('/')
    expect(await res.json()).toEqual(['A', 'B'])
    // Both commands were issued in the tick of the contributions, before the next stage ran.
    expect(atNext).toEqual([false, false])
  })

  it('should settle each result as its own command does', async () => {
    const log: string[] = []
    const app = new Hono<StageEnv<Vars>>()
    app.use(
      firstRoundTrip([
        part('a', log, () => Promise.reject(new Error('redis down'))),
        part('b', log, () => Promise.resolve('B')),
      ]),
    )
    app.get('/', async (c) => {
      const [a, b] = await Promise.allSettled([c.get('a'), c.get('b')])
      return c.json([a.status, b.status === 'fulfilled' ? b.value : undefined])
    })
    const res = await app.request('/')
    expect(await res.json()).toEqual(['rejected', 'B'])
  })

  it('should reject only its own result when a command throws as it is issued', async () => {
    const log: string[] = []
    const app = new Hono<StageEnv<Vars>>()
    app.use(
      firstRoundTrip([
        part('a', log, () => {
          throw new Error('no connection')
        }),
        part('b', log, () => Promise.resolve('B')),
      ]),
    )
    app.get('/', async (c) => {
      let message = ''
      try {
        await c.get('a')
      } catch (err) {
        message = err instanceof Error ? err.message : 'not an Error'
      }
      return c.json([message, await c.get('b')])
    })
    const res = await app.request('/')
    expect(await res.json()).toEqual(['no connection', 'B'])
    expect(log).toEqual(['contribute a', 'contribute b', 'issue a', 'issue b'])
  })

  it('should leave no unhandled rejection when the request is refused before a result is awaited', async () => {
    const unhandled: unknown[] = []
    const listener = (event: PromiseRejectionEvent): void => {
      unhandled.push(event.reason)
      event.preventDefault()
    }
    addEventListener('unhandledrejection', listener)
    try {
      const failure = deferred<string>()
      const log: string[] = []
      const app = new Hono<StageEnv<Vars>>()
      app.use(firstRoundTrip([part('a', log, () => failure.promise)]))
      app.get('/', () => {
        // A stage refuses the request; nobody awaits `a`.
        throw new GatewayError('INVALID_API_KEY', 'Invalid API key.')
      })
      app.onError((err) => toGatewayError(err).toResponse(undefined))
      const res = await app.request('/')
      expect(res.status).toBe(401)
      failure.reject(new Error('redis down'))
      await turn()
      await turn()
      expect(log).toEqual(['contribute a', 'issue a'])
      expect(unhandled).toEqual([])
    } finally {
      removeEventListener('unhandledrejection', listener)
    }
  })
})

describe('firstRoundTrip with the admission and health-sync parts', () => {
  const tenant: Tenant = testTenant(
    { monthlyRequestLimit: 1000, rpm: 600 },
    {
      keyRpm: 60,
      routingRules: [
        {
          apiKeyId: null,
          model: null,
          strategy: 'fallback',
          targets: [{ provider: 'openai', model: 'gpt-4o' }],
        },
      ],
    },
  )

  it('should start the admission and the health sync before either has answered', async () => {
    const started: string[] = []
    const admitted = deferred<Admission>()
    const synced = deferred<undefined>()
    // The rest of the port is the embedded one's, unused here.
    const state: SharedState = {
      ...memoryState({ ipRpm: 20 }),
      admit: (asked: AdmissionRequest) => {
        started.push(`admit ${asked.orgId}`)
        return admitted.promise
      },
    }
    const health: HealthTracker = {
      latency: new Map(),
      admit: () => Promise.resolve({ allowed: true, probe: false }),
      record: () => true,
      sync: () => {
        started.push('sync')
        return synced.promise
      },
    }
    type V = AuthVariables & AdmissionVariables & HealthSyncVariables
    const app = new Hono<StageEnv<V>>()
    app.use(async (c, next) => {
      c.set('tenant', tenant)
      await next()
    })
    app.use(
      firstRoundTrip<V>([admission({ state, countsTowardQuota: true }), healthSync({ health })]),
    )
    let atNext: string[] = []
    app.get('/', async (c) => {
      atNext = [...started]
      admitted.resolve({
        org: undefined,
        key: undefined,
        quota: { admitted: true, used: 1 },
        epoch: 3,
      })
      synced.resolve(undefined)
      const answer = await c.get('admission').answer
      await c.get('healthSync')
      return c.json(answer.epoch)
    })
    const res = await app.request('/')
    expect(await res.json()).toBe(3)
    expect(atNext).toEqual(['admit org_1', 'sync'])
  })
})
