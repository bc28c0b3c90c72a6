/**
 * @module Parses the JSON body once and checks the few fields the gateway itself relies on.
 *
 * Only `model`, the endpoint's required input and the streaming switches are checked; every other
 * field is kept as sent, so OpenAI parameters the gateway does not know yet still reach providers
 * that accept them (no allowlist rebuild of the body).
 */
import type { MiddlewareHandler } from 'hono'
import * as z from 'zod'
import type { StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import type { EndpointKind, ParsedRequest } from '../../types'
import type { BodyVariables } from '../body-limit'

/** What this stage sets. */
export type ParsedVariables = { request: ParsedRequest }

const model = z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty')

const messages = z.array(z.looseObject({ role: z.string({ error: 'is required' }) }), {
  error: 'is required and must be an array of messages',
})

const chatShape = z.looseObject({
  model,
  messages: messages.min(1, 'must contain at least one message'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
})

const embeddingsShape = z.looseObject({
  model,
  input: z.union(
    [
      z.string(),
      z.array(z.string()).min(1),
      z.array(z.number()).min(1),
      z.array(z.array(z.number()).min(1)).min(1),
    ],
    { error: 'must be a string, an array of strings, or token arrays' },
  ),
})

/**
 * A chat request that names a prompt template (`floopy-prompt-id`): the template may supply the
 * model and the messages, so both are checked once it is applied (`stages/prompt`).
 */
const promptedChatShape = chatShape.extend({
  model: model.optional(),
  messages: messages.optional(),
})

const shapes = { chat: chatShape, embeddings: embeddingsShape } as const

/**
 * Validates a decoded body for an endpoint; the first problem becomes a 400 naming its field.
 * `prompted`: the request names a prompt template, which may still supply model and messages.
 */
export const toParsedRequest = (
  kind: EndpointKind,
  body: unknown,
  prompted = false,
): ParsedRequest => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('INVALID_REQUEST', 'The request body must be a JSON object.')
  }
  const result = (prompted && kind === 'chat' ? promptedChatShape : shapes[kind]).safeParse(body)
  if (!result.success) {
    const issue = result.error.issues[0]
    const param = issue?.path.map(String).join('.') ?? ''
    throw new GatewayError(
      'INVALID_REQUEST',
      `Invalid '${param}': ${issue?.message ?? 'invalid'}`,
      {
        param,
      },
    )
  }
  const record = body as Record<string, unknown>
  const options = record.stream_options as { include_usage?: boolean | null } | null | undefined
  const stream = kind === 'chat' && record.stream === true
  return {
    kind,
    body: record,
    model: result.data.model ?? '',
    stream,
    includeUsage: stream && options?.include_usage === true,
  }
}

/**
 * A number too large for a double (`1e309`) parses to ±Infinity, which `JSON.stringify` writes
 * back as `null`: the provider would receive a different request than the client sent. Only a
 * literal with a three-digit exponent or 309 digits can overflow, so the body is walked only when
 * its text holds one.
 */
const MAY_OVERFLOW = /\d[eE][+-]?\d{3}|\d{309}/

/** The path of the first non-finite number in `value`, if any (`''` for `value` itself). */
export const nonFinitePath = (value: unknown, path = ''): string | undefined => {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path
  if (typeof value !== 'object' || value === null) return undefined
  for (const [key, item] of Object.entries(value)) {
    const found = nonFinitePath(item, path === '' ? key : `${path}.${key}`)
    if (found !== undefined) return found
  }
  return undefined
}

/** Decodes a body; a number that does not fit a double is refused naming its field. */
export const decodeBody = (text: string): unknown => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new GatewayError('INVALID_JSON', 'The request body is not valid JSON.')
  }
  if (MAY_OVERFLOW.test(text)) {
    const param = nonFinitePath(body)
    if (param !== undefined) {
      throw new GatewayError(
        'INVALID_REQUEST',
        `Invalid '${param}': the number is too large to be represented (it must be finite).`,
        { param },
      )
    }
  }
  return body
}

export const parseRequest = (
  kind: EndpointKind,
): MiddlewareHandler<StageEnv<BodyVariables & ParsedVariables>> =>
  async function parseRequest(c, next) {
    const type = c.req.header('content-type')
    if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.')
    }
    const prompted = c.req.header('floopy-prompt-id') !== undefined
    c.set('request', toParsedRequest(kind, decodeBody(c.get('rawBody')), prompted))
    await next()
  }
