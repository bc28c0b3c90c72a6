/**
 * @module Small readers for the client's untyped JSON body, and the two 400s the request side
 * throws: `INVALID_REQUEST` for a malformed field, `UNSUPPORTED_BY_PROVIDER` for a well-formed one
 * Anthropic cannot honour. Both name the offending field in `param` (dot path, as parse-request).
 */
import { GatewayError } from '../../errors'

export type Json = Record<string, unknown>

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const invalid = (message: string, param: string): GatewayError =>
  new GatewayError('INVALID_REQUEST', message, { param })

export const unsupported = (message: string, param: string): GatewayError =>
  new GatewayError('UNSUPPORTED_BY_PROVIDER', message, { param })

export const stringAt = (value: unknown, param: string): string => {
  if (typeof value !== 'string') throw invalid(`'${param}' must be a string.`, param)
  return value
}
