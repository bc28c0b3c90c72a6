/** @module Worker entry point. */
import { createApp } from './app'
import type { Bindings } from './env'
import { consumeLogBatch } from './logging/consumer'

const app = createApp()

export default {
  fetch: app.fetch,
  queue: (batch, env) => consumeLogBatch(batch, env),
} satisfies ExportedHandler<Bindings>
