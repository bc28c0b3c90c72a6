/**
 * @module The first round trip: the shared-state commands stages need before dispatch — the
 * admission (rate limits, monthly quota, config epoch), the routing-health sync, and the
 * exact-cache lookup — are issued together, in one tick, so they leave as ONE Upstash pipeline
 * request (`@upstash/redis` pipelines what is issued in the same tick; every command sent this
 * way is a write command or a script, so they share one pipeline, see `stores/upstash/`).
 *
 * A stage that needs shared state before dispatch contributes a part: a function that adds its
 * command to the batch and keeps the pending result in its own variable. This stage runs the
 * parts in order, sends the batch, and passes on at once; each stage awaits its own result when
 * its turn in the pipeline comes, so nothing waits for a result it does not need.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'

/** A batch of shared-state commands, started together when the batch is sent. */
export type RoundTrip = {
  /** Queues `issue`; the promise settles as the command does, once the batch has been sent. */
  add<T>(issue: () => Promise<T>): Promise<T>
}

/** The request variables a part reads and sets, and the request's headers. */
export interface PartContext<V extends object> {
  get<K extends keyof V>(key: K): V[K]
  set<K extends keyof V>(key: K, value: V[K]): void
  readonly headers: Headers
}

/**
 * One stage's contribution to the first round trip: adds its command to `batch` and keeps the
 * pending result in its own request variable. (Methods, so a part that needs fewer variables fits
 * a batch whose parts need more.)
 */
export interface RoundTripPart<V extends object> {
  contribute(c: PartContext<V>, batch: RoundTrip): void
}

const ignore = (): void => undefined

export const firstRoundTrip = <V extends object>(
  parts: readonly RoundTripPart<V>[],
): MiddlewareHandler<StageEnv<V>> =>
  async function firstRoundTrip(c, next) {
    const queued: (() => void)[] = []
    const batch: RoundTrip = {
      add<T>(issue: () => Promise<T>): Promise<T> {
        const result = new Promise<T>((resolve, reject) => {
          queued.push(() => {
            try {
              issue().then(resolve, reject)
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)))
            }
          })
        })
        // A stage that refuses the request ends it before later stages await their results.
        result.catch(ignore)
        return result
      },
    }
    const vars: PartContext<V> = {
      get: (key) => (c.get as <K extends keyof V>(key: K) => V[K])(key),
      set: (key, value) => {
        ;(c.set as (key: keyof V, value: V[keyof V]) => void)(key, value)
      },
      headers: c.req.raw.headers,
    }
    for (const part of parts) part.contribute(vars, batch)
    // All in this one tick: one pipeline request.
    for (const start of queued) start()
    await next()
  }
