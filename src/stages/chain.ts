/**
 * @module Runs a run of stages as one Hono handler, as Hono's own `compose` would run them one by
 * one: each gets a `next` for the rest, a `Response` one returns becomes `c.res`, and an error one
 * throws becomes the error response right there, so the stages before it see a finished response
 * after their `await next()`, as they do under Hono.
 *
 * What it saves is Hono's frame per handler: `compose` wraps every handler in an `async` function,
 * whose promise, closure and await were the largest allocation of a request (about 4 KiB of
 * 28 KiB, `PROFILE_HEAP=1 node bench/profile.ts`). Here a stage that is a plain function costs one
 * closure, and one that is `async` costs its own promise and one `then`.
 */
import type { Context, Env, MiddlewareHandler } from 'hono'

/**
 * A stage of any environment. Each stage names the variables it reads and sets (`StageEnv<…>`);
 * Hono's own variadic `use` and `post` infer each handler's on its own too, so the order of the
 * run, not the type checker, is what gives a stage the variables the ones before it set.
 */
export type Stage = MiddlewareHandler

/** Turns an error a stage threw into the response the client gets (the app's `onError`). */
export type StageErrorHandler<E extends Env> = (err: Error, c: Context<E>) => Response

export const chain = <E extends Env>(
  stages: readonly Stage[],
  onError: StageErrorHandler<E>,
): MiddlewareHandler<E> =>
  function chained(c, next) {
    // As Hono's `compose`: a returned response counts unless one was set already; an error's
    // always does.
    const settle = (res: unknown): void => {
      if (res instanceof Response && !c.finalized) c.res = res
    }
    const fail = (err: unknown): void => {
      if (!(err instanceof Error)) throw err
      c.error = err
      c.res = onError(err, c)
    }
    const run = (i: number): Promise<void> => {
      const stage = stages[i]
      if (stage === undefined) return next()
      let inner: Promise<void> | undefined
      let out: unknown
      try {
        out = stage(c, () => (inner = run(i + 1)))
      } catch (err) {
        fail(err)
        return Promise.resolve()
      }
      // A stage that hands on (`return next()`) leaves nothing to settle.
      if (out === inner && inner !== undefined) return inner
      if (out instanceof Promise) return out.then(settle, fail)
      settle(out)
      return Promise.resolve()
    }
    return run(0)
  }
