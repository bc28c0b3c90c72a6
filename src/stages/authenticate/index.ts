/**
 * @module Authenticates the caller from `Authorization: Bearer <gateway key>`.
 *
 * The key is looked up through the `KeyStore` port; the provider keys the gateway holds are never
 * derived from anything the client sends. The client's `authorization` header itself is stripped
 * before dispatch (see `security/headers.ts`).
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../../env'
import { GatewayError } from '../../errors'

/** Who is calling: the organisation and the key it used. */
export type Tenant = { readonly orgId: string; readonly keyId: string }

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i

/** The presented key, or `undefined` when the header is missing or not a Bearer credential. */
export const bearerToken = (header: string | undefined): string | undefined =>
  header === undefined ? undefined : BEARER.exec(header)?.[1]

export const authenticate = (): MiddlewareHandler<GatewayEnv> =>
  async function authenticate(c, next) {
    const presented = bearerToken(c.req.header('authorization'))
    if (presented === undefined) {
      throw new GatewayError(
        'INVALID_API_KEY',
        'Missing API key. Send it as "Authorization: Bearer <your gateway key>".',
        { headers: { 'www-authenticate': 'Bearer' } },
      )
    }
    const tenant = await c.get('stores').keys.resolve(presented)
    if (tenant === undefined) {
      throw new GatewayError('INVALID_API_KEY', 'Invalid API key.', {
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      })
    }
    c.set('tenant', tenant)
    await next()
  }
