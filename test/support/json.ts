/** @module JSON values and the small readers the fake providers use to walk request bodies. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

export const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const objectAt = (value: unknown, key: string): JsonObject | undefined => {
  const inner = isObject(value) ? value[key] : undefined
  return isObject(inner) ? inner : undefined
}

export const arrayAt = (value: unknown, key: string): Json[] => {
  const inner = isObject(value) ? value[key] : undefined
  return Array.isArray(inner) ? inner : []
}

export const stringAt = (value: unknown, key: string): string | undefined => {
  const inner = isObject(value) ? value[key] : undefined
  return typeof inner === 'string' ? inner : undefined
}
