/**
 * @module One JSON line per completed request when `FLOOPY_ACCESS_LOG=true`: ids, provider, model,
 * how the response ended, token usage and duration. Never bodies, headers or keys.
 */
import type { Context } from 'hono'
import type { GatewayEnv } from '../../env'
import type { ResponseOutcome } from '../../providers/adapter'
import type { Target } from '../route'

export const accessLog = (
  c: Context<GatewayEnv>,
  target: Target,
  outcome: ResponseOutcome,
): void => {
  if (!c.get('config').accessLog) return
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'request',
      requestId: c.get('requestId'),
      orgId: c.get('tenant').orgId,
      keyId: c.get('tenant').keyId,
      endpoint: c.get('request').kind,
      provider: target.provider.spec.id,
      model: target.model,
      stream: c.get('request').stream,
      end: outcome.end,
      usage: outcome.usage,
    }),
  )
}
