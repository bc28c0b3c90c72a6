/**
 * @module Settings on the command line. The response cache's: `--cache on|off`,
 * `--cache-ttl <seconds>` and `--cache-threshold <x>`, shared by `org create|set` and
 * `key issue|set`. On `set`, `unset` removes a setting, so the organisation's (for a key) or the
 * gateway's default (for an organisation) applies again; what is not given stays as it is.
 * An organisation's feedback metrics: `--metric name=min:max|unset` on `org set`.
 */
import type { ParseArgsOptionsConfig } from 'node:util'
import { CACHE_TTL_SECONDS, type Settings } from '../../src/tenancy/schema.ts'
import type { OptionValues } from './cli.ts'
import type { SettingsChanges } from './store.ts'
import * as valid from './validate.ts'

export const CACHE_OPTIONS = {
  cache: { type: 'string' },
  'cache-ttl': { type: 'string' },
  'cache-threshold': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig

export const CACHE_OPTION_NAMES = Object.keys(CACHE_OPTIONS)

type CacheValues = OptionValues<typeof CACHE_OPTIONS>

/** The synopsis of the options, e.g. `[--cache on|off|unset] …`. */
export const cacheSynopsis = (allowUnset: boolean): string => {
  const unset = allowUnset ? `|${valid.UNSET}` : ''
  return `[--cache on|off${unset}] [--cache-ttl S${unset}] [--cache-threshold X${unset}]`
}

/** One option's help line, its text in the column the other commands' help uses. */
const optionLine = (option: string, text: string): string =>
  option.length < 25 ? `  ${option.padEnd(26)}${text}` : `  ${option}\n${' '.repeat(28)}${text}`

/** The options' help lines; `inherits` says what applies where a setting is not set. */
export const cacheHelp = (allowUnset: boolean, inherits: 'org' | 'gateway'): string => {
  const unset = allowUnset ? `|${valid.UNSET}` : ''
  const { min, max } = CACHE_TTL_SECONDS
  const fallback = inherits === 'org' ? "the organization's" : "the gateway's default"
  return [
    optionLine(`--cache on|off${unset}`, 'cache responses (a request may still ask otherwise)'),
    optionLine(
      `--cache-ttl S${unset}`,
      `keep a cached answer S seconds, ${String(min)}-${String(max)} (30 days)`,
    ),
    optionLine(
      `--cache-threshold X${unset}`,
      "the semantic tier's similarity threshold, 0 < X <= 1",
    ),
    '',
    allowUnset
      ? `A cache setting not set takes ${fallback}; ${valid.UNSET} removes the setting.`
      : `A cache setting not given takes ${fallback}.`,
  ].join('\n')
}

/** The change `org set` / `key set` asks for; `undefined` when no cache option was given. */
export const cacheChanges = (values: CacheValues): SettingsChanges | undefined => {
  const cache: NonNullable<SettingsChanges['cache']> = {}
  if (values.cache !== undefined) cache.enabled = valid.orUnset(values.cache, valid.cacheEnabled)
  const ttl = values['cache-ttl']
  if (ttl !== undefined) cache.ttl_seconds = valid.orUnset(ttl, valid.cacheTtl)
  const threshold = values['cache-threshold']
  if (threshold !== undefined) cache.threshold = valid.orUnset(threshold, valid.cacheThreshold)
  return Object.keys(cache).length === 0 ? undefined : { cache }
}

/** The settings `org create` / `key issue` starts with; `undefined` when none was given. */
export const cacheSettings = (values: CacheValues): Settings | undefined => {
  const cache: NonNullable<Settings['cache']> = {}
  if (values.cache !== undefined) cache.enabled = valid.cacheEnabled(values.cache)
  const ttl = values['cache-ttl']
  if (ttl !== undefined) cache.ttl_seconds = valid.cacheTtl(ttl)
  const threshold = values['cache-threshold']
  if (threshold !== undefined) cache.threshold = valid.cacheThreshold(threshold)
  return Object.keys(cache).length === 0 ? undefined : { cache }
}

export const METRIC_OPTIONS = {
  metric: { type: 'string', multiple: true },
} as const satisfies ParseArgsOptionsConfig

/** `org set`'s help lines for `--metric`. */
export const metricHelp = (): string =>
  [
    optionLine(
      `--metric NAME=MIN:MAX|${valid.UNSET}`,
      'declare a feedback metric and the range of its values (mapped onto',
    ),
    `${' '.repeat(28)}a reward in [0, 1]), or remove it; repeat for several. NAME is`,
    `${' '.repeat(28)}1-32 of a-z 0-9 _, starting with a-z; rating is built in, on [0, 1]`,
  ].join('\n')

/** The change `org set --metric` asks for; `undefined` when no metric was given. */
export const metricChanges = (
  values: OptionValues<typeof METRIC_OPTIONS>,
): SettingsChanges | undefined =>
  values.metric === undefined
    ? undefined
    : { feedback: { metrics: valid.metricRanges(values.metric) } }
