/**
 * @module Gives every request an id (`c.var.requestId`) and returns it in `x-request-id` on every
 * response, errors included. A client-supplied `x-request-id` is kept when it is short and plain,
 * so a caller can correlate its own logs; anything else is replaced by a fresh UUID.
 *
 * It also starts the request's trace (what the stages record for the log row) and its list of
 * taps (observers of the provider's answer), so every later stage can rely on both.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { newTrace } from '../../types'

const ACCEPTABLE = /^[\w.:=-]{1,128}$/

export const requestId = (): MiddlewareHandler<StageEnv> =>
  async function requestId(c, next) {
    const offered = c.req.header('x-request-id')
    const kept = offered !== undefined && ACCEPTABLE.test(offered)
    // The log needs a unique id per request: a client's own id is kept for the client (and
    // recorded beside it in the log), while the log row gets the gateway's.
    const id = kept ? offered : crypto.randomUUID()
    c.set('requestId', id)
    c.set('trace', newTrace(kept ? crypto.randomUUID() : id, kept ? offered : undefined))
    c.set('taps', [])
    await next()
    // A served request's id may have become its signed reference since (`stages/reference`).
    c.res.headers.set('x-request-id', c.get('requestId'))
  }
