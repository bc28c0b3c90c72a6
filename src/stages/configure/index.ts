/**
 * @module Loads the gateway configuration (parsed once per bindings object) and the state adapters
 * it selects, and exposes both to later stages as `c.var.config` and `c.var.stores`.
 */
import type { MiddlewareHandler } from 'hono'
import { loadConfig, type GatewayEnv } from '../../env'
import { storesFor } from '../../stores'

export const configure = (): MiddlewareHandler<GatewayEnv> =>
  async function configure(c, next) {
    const config = loadConfig(c.env)
    c.set('config', config)
    c.set('stores', storesFor(config))
    await next()
  }
