/**
 * @module A JSON schema as Anthropic's structured outputs take it, adapted the way Anthropic's own
 * SDKs adapt one (`transformJSONSchema` in `@anthropic-ai/sdk`, "How SDK transformation works" in
 * Anthropic's structured-outputs guide): the supported subset is kept — `type`, `anyOf` (`oneOf`
 * becomes `anyOf`), `allOf`, `$ref` / `$defs`, `description`, `title`, `const`, `enum`, object
 * `properties` and `required` with `additionalProperties: false`, array `items` and `minItems` of
 * 0 or 1, string `format`s Anthropic knows — and every other keyword (`$schema`, `minimum`,
 * `pattern`, `maxLength`, …) is not dropped but written into the node's description, so the model
 * still reads the constraint.
 */

import { isRecord, type Json } from '../fields'

type Schema = Json

const SUPPORTED_STRING_FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'uri',
  'ipv4',
  'ipv6',
  'uuid',
])

/** The keywords of `schema` not yet taken into the adapted node. */
type Rest = Map<string, unknown>

const take = (rest: Rest, key: string): unknown => {
  const value = rest.get(key)
  rest.delete(key)
  return value
}

const adapt = (input: Schema): Schema => {
  const rest: Rest = new Map(Object.entries(input))
  const out: Schema = {}
  const ref = take(rest, '$ref')
  if (ref !== undefined) return { $ref: ref }
  const defs = take(rest, '$defs')
  if (isRecord(defs)) {
    out.$defs = Object.fromEntries(
      Object.entries(defs).map(([name, def]) => [name, isRecord(def) ? adapt(def) : def]),
    )
  }
  const type = take(rest, 'type')
  const anyOf = take(rest, 'anyOf')
  const oneOf = take(rest, 'oneOf')
  const allOf = take(rest, 'allOf')
  const variants = Array.isArray(anyOf) ? anyOf : Array.isArray(oneOf) ? oneOf : undefined
  if (variants !== undefined) {
    out.anyOf = variants.map((v: unknown) => (isRecord(v) ? adapt(v) : v))
  } else if (Array.isArray(allOf)) {
    out.allOf = allOf.map((v: unknown) => (isRecord(v) ? adapt(v) : v))
  } else if (type !== undefined) {
    out.type = type
  }
  for (const key of ['description', 'title', 'const', 'enum']) {
    const value = take(rest, key)
    if (value !== undefined) out[key] = value
  }
  if (type === 'object') {
    const properties = take(rest, 'properties')
    out.properties = isRecord(properties)
      ? Object.fromEntries(
          Object.entries(properties).map(([name, p]) => [name, isRecord(p) ? adapt(p) : p]),
        )
      : {}
    take(rest, 'additionalProperties')
    out.additionalProperties = false
    const required = take(rest, 'required')
    if (required !== undefined) out.required = required
  } else if (type === 'string') {
    const format = take(rest, 'format')
    if (typeof format === 'string' && SUPPORTED_STRING_FORMATS.has(format)) out.format = format
    else if (format !== undefined) rest.set('format', format)
  } else if (type === 'array') {
    const items = take(rest, 'items')
    if (isRecord(items)) out.items = adapt(items)
    const minItems = take(rest, 'minItems')
    if (minItems === 0 || minItems === 1) out.minItems = minItems
    else if (minItems !== undefined) rest.set('minItems', minItems)
  }
  const unsupported = [...rest]
  if (unsupported.length > 0) {
    const noted = `{${unsupported.map(([key, value]) => `${key}: ${JSON.stringify(value)}`).join(', ')}}`
    out.description =
      typeof out.description === 'string' && out.description !== ''
        ? `${out.description}\n\n${noted}`
        : noted
  }
  return out
}

/** `schema` adapted to Anthropic's structured outputs (a copy; the input is not changed). */
export const anthropicSchema = (schema: Schema): Schema => adapt(schema)
