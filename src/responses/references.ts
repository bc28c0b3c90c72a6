/**
 * @module What the Responses API's state needs, pure: the stored items a request refers to
 * (`item_reference` items, `previous_response_id`), the request with them put back in place, and
 * what an answer leaves to be referred to later.
 *
 * An answer of a request that does not say `store: false` is kept for `RESPONSE_TTL_SECONDS`, per
 * organisation: each output item by its id (`msg_…`, `fc_…`, `rs_…`), and the response by its id
 * with the conversation it ends (its input, with earlier references resolved, then its output).
 * `previous_response_id` then prepends that conversation; an `item_reference` is replaced by the
 * item. The stored conversation carries no `instructions`: as with OpenAI, they do not carry over.
 */
import { GatewayError } from '../errors'
import { isRecord, type Json } from '../providers/fields'

/** How long answers stay referable: 30 days, as OpenAI keeps stored responses. */
export const RESPONSE_TTL_SECONDS = 30 * 24 * 3600

/** The request's `input` as a list of items. */
export const inputItems = (input: unknown): unknown[] =>
  typeof input === 'string'
    ? [{ role: 'user', content: input }]
    : Array.isArray(input)
      ? (input as unknown[])
      : []

/** The stored ids a request refers to: `previous_response_id` first, then item references. */
export const referencedIds = (body: unknown): string[] => {
  if (!isRecord(body)) return []
  const ids: string[] = []
  if (typeof body.previous_response_id === 'string') ids.push(body.previous_response_id)
  if (Array.isArray(body.input)) {
    for (const item of body.input as unknown[]) {
      if (isRecord(item) && item.type === 'item_reference' && typeof item.id === 'string') {
        ids.push(item.id)
      }
    }
  }
  return ids
}

/**
 * `body` with its references resolved from `found` (by id): the previous response's conversation
 * before the input, each `item_reference` replaced by its item. An id not found → 400 naming it.
 */
export const resolveReferences = (body: Json, found: ReadonlyMap<string, unknown>): Json => {
  const resolved: Json = { ...body }
  const input: unknown[] = []
  const previous = body.previous_response_id
  if (typeof previous === 'string') {
    const stored = found.get(previous)
    if (!isRecord(stored) || !Array.isArray(stored.items)) {
      throw new GatewayError(
        'INVALID_REQUEST',
        `Previous response with id '${previous}' not found (unknown, expired, or stored with ` +
          "'store: false').",
        { param: 'previous_response_id' },
      )
    }
    input.push(...(stored.items as unknown[]))
  }
  delete resolved.previous_response_id
  inputItems(body.input).forEach((item, i) => {
    if (isRecord(item) && item.type === 'item_reference') {
      const stored = typeof item.id === 'string' ? found.get(item.id) : undefined
      if (stored === undefined) {
        throw new GatewayError(
          'INVALID_REQUEST',
          `Item with id '${String(item.id)}' not found (unknown, expired, or stored with ` +
            "'store: false').",
          { param: `input[${String(i)}]` },
        )
      }
      input.push(stored)
    } else {
      input.push(item)
    }
  })
  resolved.input = input
  return resolved
}

/** What an answer leaves to be referred to: its output items, and itself with its conversation. */
export const storedEntries = (
  response: Json,
  input: readonly unknown[],
): { id: string; value: unknown }[] => {
  const output = Array.isArray(response.output) ? (response.output as unknown[]) : []
  const entries: { id: string; value: unknown }[] = []
  for (const item of output) {
    if (isRecord(item) && typeof item.id === 'string') entries.push({ id: item.id, value: item })
  }
  if (typeof response.id === 'string') {
    entries.push({ id: response.id, value: { items: [...input, ...output] } })
  }
  return entries
}
