/**
 * @module Signs a served request's id (`feedback/reference.ts`): once the answer is known — a
 * provider's, or the response cache's — the request's id becomes the signed reference to the
 * organisation, routing rule, target and cache entry that served it, in `x-request-id` (or
 * `floopy-request-id` when the client chose its own `x-request-id`) and in the log row, so
 * `POST /v1/feedback` needs no lookup. One HMAC per served request, after the answer is decided;
 * answers the gateway made itself (errors, the model list) keep their plain id.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { signReference } from '../../feedback/reference'
import { cacheOrgPrefix } from '../../stores/shared-keys'
import type { AuthVariables } from '../authenticate'

/** The header carrying the reference when the client chose its own `x-request-id`. */
export const REFERENCE_HEADER = 'floopy-request-id'

export const reference = ({
  key,
}: {
  readonly key: () => Promise<CryptoKey>
}): MiddlewareHandler<StageEnv<Partial<AuthVariables>>> =>
  async function reference(c, next) {
    await next()
    const tenant = c.get('tenant')
    if (tenant === undefined || c.res.status < 200 || c.res.status >= 300) return
    const trace = c.get('trace')
    const answered = trace.exchange?.answered === true ? trace.exchange.target : undefined
    const cached = trace.cachedAnswer
    const target =
      answered !== undefined
        ? `${answered.provider.spec.id}/${answered.model}`
        : cached !== undefined
          ? `${cached.provider}/${cached.model}`
          : ''
    if (target === '') return
    const prefix = cacheOrgPrefix(tenant.orgId)
    const entry =
      answered === undefined && trace.cacheEntry?.startsWith(prefix) === true
        ? trace.cacheEntry.slice(prefix.length)
        : ''
    const signed = await signReference(await key(), {
      orgId: tenant.orgId,
      rule: trace.rule ?? '',
      target,
      entry,
      at: Math.floor(Date.now() / 1000),
    })
    trace.logId = signed
    if (trace.clientRequestId === undefined) c.set('requestId', signed)
    else c.res.headers.set(REFERENCE_HEADER, signed)
  }
