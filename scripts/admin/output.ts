/**
 * @module Rendering for people and for scripts: aligned tables and `key: value` blocks, or JSON
 * with `--json`. Text cells have control characters replaced, so a stored name cannot drive the
 * terminal.
 */

import path from 'node:path'
import type { RuleParams, Settings } from '../../src/tenancy/schema.ts'

// eslint-disable-next-line no-control-regex -- replacing control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g

const cell = (value: unknown): string => {
  if (value === null || value === undefined || value === '') return '-'
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.replace(CONTROL, '?')
}

/** Columns separated by two spaces, the last one unpadded. */
export const table = (
  headers: readonly string[],
  rows: readonly (readonly unknown[])[],
): string => {
  const cells = [headers.map(String), ...rows.map((row) => row.map(cell))]
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)))
  return cells
    .map((row) =>
      row
        .map((text, i) => (i === row.length - 1 ? text : text.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** `label: value` lines with the values aligned. */
export const fields = (pairs: readonly (readonly [string, unknown])[]): string => {
  const width = Math.max(...pairs.map(([label]) => label.length)) + 1
  return pairs.map(([label, value]) => `${`${label}:`.padEnd(width)} ${cell(value)}`).join('\n')
}

export const json = (value: unknown): string => JSON.stringify(value, null, 2)

/** `none` for an unlimited (`null`) limit. */
export const limitText = (value: number | null): string => (value === null ? 'none' : String(value))

export const featuresText = (features: Record<string, unknown>): string => {
  const entries = Object.entries(features).sort(([a], [b]) => a.localeCompare(b))
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${cell(v)}`).join(' ')
}

/**
 * The cache settings as stored, `enabled=true ttl_seconds=3600 threshold=0.95` (only those set),
 * or `-` when none is: each setting not shown takes the organisation's or the gateway's default.
 */
export const cacheText = (settings: Settings | undefined): string => {
  const cache = settings?.cache ?? {}
  const entries = (['enabled', 'ttl_seconds', 'threshold'] as const).flatMap((name) =>
    cache[name] === undefined ? [] : [`${name}=${cell(cache[name])}`],
  )
  return entries.length === 0 ? '-' : entries.join(' ')
}

/**
 * The feedback metrics declared, `helpful=1:5 thumbs=-1:1` (name=min:max, by name), or `-` when
 * none is: feedback may then name only `rating`, on [0, 1].
 */
export const metricsText = (settings: Settings | undefined): string => {
  const metrics = Object.entries(settings?.feedback?.metrics ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )
  return metrics.length === 0
    ? '-'
    : metrics.map(([name, { min, max }]) => cell(`${name}=${min}:${max}`)).join(' ')
}

/** A rule's parameters as stored, `cost_weight=0.02 latency_weight=0.5 metric=helpful`, or `-`. */
export const paramsText = (params: RuleParams | undefined): string => {
  const entries = (['cost_weight', 'latency_weight', 'metric'] as const).flatMap((name) =>
    params?.[name] === undefined ? [] : [`${name}=${cell(params[name])}`],
  )
  return entries.length === 0 ? '-' : entries.join(' ')
}

/** A path relative to the working directory when it lies below it, else absolute. */
export const displayPath = (target: string): string => {
  const relative = path.relative(process.cwd(), target)
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative)
    ? target
    : relative
}
