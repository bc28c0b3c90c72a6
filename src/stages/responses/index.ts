/**
 * @module The Responses API's entry (`POST /v1/responses`): the request is translated into the
 * canonical chat completion (`responses/request.ts`) and goes through the very pipeline chat
 * completions go through — keys, limits, quota, prompts, cache, firewall, routing, every provider's
 * translation, the log — and the answer, a provider's or the cache's, JSON or streamed, comes back
 * as a `response` object or the Responses event stream (`responses/response.ts`). Errors keep the
 * one error envelope, which the Responses API shares.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { responsesToChat } from '../../responses/request'
import { chatToResponse, responsesStream } from '../../responses/response'
import type { BodyVariables } from '../body-limit'
import { decodeBody, toParsedRequest, type ParsedVariables } from '../parse-request'

export const responses = (): MiddlewareHandler<StageEnv<BodyVariables & ParsedVariables>> =>
  async function responses(c, next) {
    const type = c.req.header('content-type')
    if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.')
    }
    const prompted = c.req.header('floopy-prompt-id') !== undefined
    const { chat, echo } = responsesToChat(decodeBody(c.get('rawBody')), prompted)
    c.set('request', toParsedRequest('chat', chat, prompted))
    await next()
    const res = c.res
    if (res.status < 200 || res.status >= 300 || res.body === null) return
    const headers = new Headers(res.headers)
    headers.delete('content-length')
    let body: BodyInit
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      body = res.body.pipeThrough(responsesStream(echo))
    } else {
      body = JSON.stringify(chatToResponse(await res.json<Record<string, unknown>>(), echo))
      headers.set('content-type', 'application/json')
    }
    // Unset first: Hono would otherwise carry the old headers (a stale length) onto the new one.
    c.res = undefined
    c.res = new Response(body, { status: res.status, headers })
  }
