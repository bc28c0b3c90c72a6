/**
 * @module The Responses API's entry (`POST /v1/responses`): the request is translated into the
 * canonical chat completion (`responses/request.ts`) and goes through the very pipeline chat
 * completions go through — keys, limits, quota, prompts, cache, firewall, routing, every provider's
 * translation, the log — and the answer, a provider's or the cache's, JSON or streamed, comes back
 * as a `response` object or the Responses event stream (`responses/response.ts`). Errors keep the
 * one error envelope, which the Responses API shares.
 *
 * State (`responses/references.ts`): an answer is kept unless the request says `store: false`, so
 * a later request may name it with `previous_response_id` or its items with `item_reference` (the
 * Vercel AI SDK does by default); they are read here, in one command, before the translation.
 */
import type { MiddlewareHandler } from 'hono'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { alarm, describeError } from '../../logging/alarm'
import {
  RESPONSE_TTL_SECONDS,
  inputItems,
  referencedIds,
  resolveReferences,
  storedEntries,
} from '../../responses/references'
import { responsesToChat } from '../../responses/request'
import { chatToResponse, responsesStream } from '../../responses/response'
import type { ResponseStore } from '../../stores'
import { afterResponse } from '../after-response'
import type { AuthVariables } from '../authenticate'
import type { BodyVariables } from '../body-limit'
import { decodeBody, toParsedRequest, type ParsedVariables } from '../parse-request'

type Json = Record<string, unknown>

export const responses = ({
  store,
}: {
  readonly store: ResponseStore
}): MiddlewareHandler<StageEnv<BodyVariables & AuthVariables & ParsedVariables>> =>
  async function responses(c, next) {
    const type = c.req.header('content-type')
    if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.')
    }
    const orgId = c.get('tenant').orgId
    const prompted = c.req.header('floopy-prompt-id') !== undefined
    let body: unknown = decodeBody(c.get('rawBody'))
    const ids = referencedIds(body)
    if (ids.length > 0 && typeof body === 'object' && body !== null) {
      let values: unknown[]
      try {
        values = await store.get(orgId, ids)
      } catch (err) {
        alarm('stored responses unavailable', { error: describeError(err) })
        throw new GatewayError(
          'INVALID_REQUEST',
          'The stored items this request refers to cannot be read right now; send the items ' +
            'themselves in input instead.',
          { param: 'input' },
        )
      }
      body = resolveReferences(body as Json, new Map(ids.map((id, i) => [id, values[i]])))
    }
    const { chat, echo } = responsesToChat(body, prompted)
    c.set('request', toParsedRequest('chat', chat, prompted))
    await next()
    const res = c.res
    if (res.status < 200 || res.status >= 300 || res.body === null) return
    const input = inputItems((body as Json).input)
    const keep = (response: Json): void => {
      if (!echo.store) return
      afterResponse(
        c,
        store
          .put(orgId, storedEntries(response, input), RESPONSE_TTL_SECONDS)
          .catch((err: unknown) => {
            alarm('a response could not be stored for later references', {
              error: describeError(err),
            })
          }),
      )
    }
    const headers = new Headers(res.headers)
    headers.delete('content-length')
    let out: BodyInit
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      out = res.body.pipeThrough(responsesStream(echo, keep))
    } else {
      const response = chatToResponse(await res.json<Json>(), echo)
      keep(response)
      out = JSON.stringify(response)
      headers.set('content-type', 'application/json')
    }
    // Unset first: Hono would otherwise carry the old headers (a stale length) onto the new one.
    c.res = undefined
    c.res = new Response(out, { status: res.status, headers })
  }
