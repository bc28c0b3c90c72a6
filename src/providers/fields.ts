/**
 * @module Small readers for the client's untyped JSON body, shared by the families that translate
 * it field by field, and the two 400s their request side throws: `INVALID_REQUEST` for a malformed
 * field, `UNSUPPORTED_BY_PROVIDER` for a well-formed one the provider cannot honour. Both name the
 * offending field in `param` (dot path, as parse-request).
 */
import { GatewayError } from '../errors'

export type Json = Record<string, unknown>

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The value `text` spells in JSON; `undefined` when it is not JSON (a provider's oddity, a cut). */
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

export const invalid = (message: string, param: string): GatewayError =>
  new GatewayError('INVALID_REQUEST', message, { param })

export const unsupported = (message: string, param: string): GatewayError =>
  new GatewayError('UNSUPPORTED_BY_PROVIDER', message, { param })

export const stringAt = (value: unknown, param: string): string => {
  if (typeof value !== 'string') throw invalid(`'${param}' must be a string.`, param)
  return value
}

/** `body[param]` as a finite number; `undefined` when absent or null. */
export const numberField = (body: Readonly<Json>, param: string): number | undefined => {
  const value = body[param]
  if (value == null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`'${param}' must be a number.`, param)
  }
  return value
}

/** `body[param]` as a string; `undefined` when absent or null. */
export const stringField = (body: Readonly<Json>, param: string): string | undefined => {
  const value = body[param]
  if (value == null) return undefined
  return stringAt(value, param)
}

/** Which field sets the output budget: `max_completion_tokens` first, then `max_tokens`. */
export const maxTokensParam = (body: Readonly<Json>): string | undefined =>
  body.max_completion_tokens != null
    ? 'max_completion_tokens'
    : body.max_tokens != null
      ? 'max_tokens'
      : undefined

/** The output budget `param` (`maxTokensParam`) sets: a non-negative integer. */
export const maxTokensAt = (body: Readonly<Json>, param: string): number => {
  const value = body[param]
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(`'${param}' must be a non-negative integer.`, param)
  }
  return value
}
