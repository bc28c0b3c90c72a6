/**
 * @module The composition root: for each bindings object (workerd hands the same one to every
 * request of an isolate), the configuration is parsed, the ports and services are chosen, and the
 * pipeline is wired with them — once. A request then costs one map lookup before the pipeline.
 *
 * An invalid configuration is not a crash: every request answers 500 `CONFIG_INVALID` naming the
 * variable, until the bindings change.
 */
import { createApp, createFailingApp } from './app'
import { loadConfig } from './config'
import type { Bindings } from './env'
import { GatewayError } from './errors'
import { callProvider, listModels } from './providers/client'
import { storesFor } from './stores'

type App = {
  fetch(request: Request, bindings: Bindings, ctx?: ExecutionContext): Response | Promise<Response>
}

const compose = (bindings: Bindings): App => {
  let config
  try {
    config = loadConfig(bindings)
  } catch (err) {
    if (err instanceof GatewayError) return createFailingApp(err)
    throw err
  }
  const { state, resolver, health } = storesFor(config)
  return createApp({
    config,
    state,
    resolver,
    health,
    call: callProvider,
    listModels,
    logQueue: bindings.LOG_QUEUE,
  })
}

/** The gateway as a fetch handler: `fetch(request, bindings, ctx)`, composed per bindings. */
export const createGateway = (): App => {
  const apps = new WeakMap<Bindings, App>()
  return {
    fetch(request, bindings, ctx) {
      let app = apps.get(bindings)
      if (app === undefined) {
        app = compose(bindings)
        apps.set(bindings, app)
      }
      return app.fetch(request, bindings, ctx)
    },
  }
}
