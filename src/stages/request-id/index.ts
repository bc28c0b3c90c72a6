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
    const id = offered !== undefined && ACCEPTABLE.test(offered) ? offered : crypto.randomUUID()
    c.set('requestId', id)
    await next()
    c.res.headers.set('x-request-id', id)
  }
