/** @module Worker entry point. */
import type { Bindings } from './env'
import { createGateway } from './gateway'
import { consumeLogBatch } from './logging/consumer'

const gateway = createGateway()

export default {
  fetch: (request, env, ctx) => gateway.fetch(request, env, ctx),
  queue: (batch, env) => consumeLogBatch(batch, env),
} satisfies ExportedHandler<Bindings>
