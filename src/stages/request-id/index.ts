/**
 * @module Gives every request an id (`c.var.requestId`) and returns it in `x-request-id` on every
 * response, errors included. A client-supplied `x-request-id` is kept when it is short and plain,
 * so a caller can correlate its own logs; anything else is replaced by a fresh UUID.
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env'

const ACCEPTABLE = /^[\w.:=-]{1,128}$/

export const requestId = (): MiddlewareHandler<GatewayEnv> =>
  async function requestId(c, next) {
    const offered = c.req.header('x-request-id')
    const kept = offered !== undefined && ACCEPTABLE.test(offered)
    // The log needs a unique id per request: a client's own id is kept for the client (and
    // recorded beside it in the log), while the log row gets the gateway's.
    const id = kept ? offered : crypto.randomUUID()
    c.set('requestId', id)
    if (kept) c.set('clientRequestId', offered)
    c.set('logId', kept ? crypto.randomUUID() : id)
    await next()
    c.res.headers.set('x-request-id', id)
  }
