/**
 * @module Work that runs after the response is on its way (`waitUntil`), and never fails a request.
 */
import type { Context } from 'hono'

/** Hands `work` to the runtime to finish after the response (or just lets it run, in unit tests). */
export const afterResponse = (c: Context, work: Promise<unknown>): void => {
  let ctx
  try {
    ctx = c.executionCtx
  } catch {
    // No execution context (a plain `app.request` in a unit test): the promise runs on its own.
  }
  ctx?.waitUntil(work)
}

/** `afterResponse` bound to a request, for ports that take a scheduler (the key resolver). */
export const scheduleAfterResponse =
  (c: Context) =>
  (work: Promise<unknown>): void => {
    afterResponse(c, work)
  }
