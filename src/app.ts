/**
 * @module The gateway: the request pipeline, read top to bottom.
 *
 * Each `.use()` is one checkpoint. A stage passes (`await next()`), answers (a `Response`), or
 * throws a `GatewayError`, which `onError` turns into the one OpenAI-shaped error envelope.
 */
import { Hono } from 'hono'
import type { GatewayEnv } from './env'
import { GatewayError, toGatewayError } from './errors'
import { redactSecrets } from './providers/upstream-error'
import { listModels } from './routes/models'
import { authenticate } from './stages/authenticate'
import { bodyLimit } from './stages/body-limit'
import { configure } from './stages/configure'
import { dispatch } from './stages/dispatch'
import { guard } from './stages/guard'
import { limits } from './stages/limits'
import { parseRequest } from './stages/parse-request'
import { requestId } from './stages/request-id'
import { requestLog } from './stages/request-log'
import { route } from './stages/route'
import { subscription } from './stages/subscription'

export const createApp = (): Hono<GatewayEnv> => {
  const app = new Hono<GatewayEnv>()

  app.use(requestId()) // 0. request id
  app.use(configure()) // config and state adapters, parsed once per isolate
  app.get('/healthz', (c) => c.json({ status: 'ok' }))

  app.use('/v1/*', requestLog()) // 13. one log record per request, made after the response
  app.use('/v1/*', bodyLimit()) // 1. body size (read once, before anything else)
  app.use('/v1/*', authenticate()) // 2-3. API key; per-IP limit for traffic without a valid one
  app.use('/v1/*', subscription()) // 5. subscription status (no I/O, before any limit is spent)

  app.get('/v1/models', limits({ countsTowardQuota: false }), listModels)
  for (const [path, kind] of [
    ['/v1/chat/completions', 'chat'],
    ['/v1/embeddings', 'embeddings'],
  ] as const) {
    app.post(
      path,
      parseRequest(kind), // the body, parsed once
      limits({ countsTowardQuota: true }), // 4+6. org and key rate limits, monthly quota
      route(), // 10. targets
      guard(), // 11. SSRF + header hygiene
      dispatch(), // 12. send, stream back
    )
    app.all(path, () => {
      throw new GatewayError('METHOD_NOT_ALLOWED', `Use POST for ${path}.`, {
        headers: { allow: 'POST' },
      })
    })
  }

  app.notFound((c) =>
    new GatewayError('NOT_FOUND', `Unknown endpoint: ${c.req.method} ${c.req.path}`).toResponse(
      c.get('requestId'),
    ),
  )
  app.onError((err, c) => {
    const error = toGatewayError(err)
    if (error.code === 'INTERNAL_ERROR') {
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown'
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'unhandled error',
          requestId: c.get('requestId'),
          error: redactSecrets(detail),
        }),
      )
    }
    return error.toResponse(c.get('requestId'))
  })
  return app
}
