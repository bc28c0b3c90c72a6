/**
 * @module Checks of the values an operator types, each turning text into the stored value or
 * throwing a one-line `CliError` (exit 1) that names the option. The store checks again; these
 * exist so a typo is refused before any I/O, with a message that says what was expected.
 */
import { PROMPT_ID, PROMPT_LABEL } from '../../src/prompts/template.ts'
import {
  CACHE_TTL_SECONDS,
  MetricRangeSchema,
  ROUTING_STRATEGIES,
  RuleParamsSchema,
  SUBSCRIPTION_STATUSES,
  TARGET_KEYS,
  type RoutingStrategy,
  type RoutingTargetRow,
  type SubscriptionStatus,
  type TargetKey,
} from '../../src/tenancy/schema.ts'
import { CliError } from './cli.ts'

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/
const PROVIDER = /^[a-z0-9][a-z0-9-]{0,31}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const PLAN = /^[a-z0-9][a-z0-9_-]{0,62}$/
const FLAG_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
/** Printable, no whitespace: model names are sent to providers unchanged. */
const MODEL = /^[\x21-\x7e]{1,200}$/
// eslint-disable-next-line no-control-regex -- the point is to refuse control characters
const CONTROL = /[\x00-\x1f\x7f]/
/** Limits are Postgres `integer` columns. */
const MAX_INT = 2_147_483_647
const MAX_TARGETS = 16
const MAX_WEIGHT = 10_000
/** A version selector of digits is a version number, never a label. */
const DIGITS = /^[0-9]+$/
const PROMPT_NAME_RULE = '1-128 characters of a-z 0-9 . _ -, starting with a-z or 0-9'
/** A plain decimal: no sign, exponent, hex or spaces, which `Number()` would also accept. */
const DECIMAL = /^(?:\d{1,10}(?:\.\d{0,17})?|\.\d{1,17})$/
/** A signed plain decimal: a metric range's bound may be negative. */
const SIGNED_DECIMAL = /^-?(?:\d{1,10}(?:\.\d{0,17})?|\.\d{1,17})$/
const METRIC_NAME_RULE = '1-32 characters of a-z 0-9 _, starting with a-z'
/** Cache namespaces, as requests may name them in `floopy-cache-namespace` (`docs/cache.md`). */
const NAMESPACE = /^[a-z0-9._-]{1,64}$/
/** The word that removes a setting, so the organisation's (or the gateway's default) applies. */
export const UNSET = 'unset'

const refuse = (message: string): never => {
  throw new CliError(message)
}

/** A text preview safe to echo in an error: short, without control characters. */
const shown = (text: string): string =>
  JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)

export const slug = (text: string): string =>
  SLUG.test(text)
    ? text
    : refuse(`invalid slug ${shown(text)}: 2-63 characters of a-z 0-9 -, not starting with -`)

/** `<org>`: an organisation's uuid (any case) or its slug. */
export const orgRef = (text: string): string => {
  if (UUID.test(text)) return text.toLowerCase()
  if (SLUG.test(text)) return text
  return refuse(`invalid organization ${shown(text)}: expected its id (a uuid) or its slug`)
}

export const isUuid = (text: string): boolean => UUID.test(text)

export const keyId = (text: string): string =>
  UUID.test(text) ? text.toLowerCase() : refuse(`invalid key id ${shown(text)}: expected a uuid`)

export const provider = (text: string): string =>
  PROVIDER.test(text)
    ? text
    : refuse(`invalid provider ${shown(text)}: 1-32 characters of a-z 0-9 -, not starting with -`)

const integer = (option: string, text: string, min: number): number => {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN
  if (Number.isInteger(value) && value >= min && value <= MAX_INT) return value
  const what = min === 0 ? 'a whole number ≥ 0' : 'a positive whole number'
  return refuse(`invalid --${option} ${shown(text)}: expected ${what} (at most ${MAX_INT})`)
}

export const positiveInt = (option: string, text: string): number => integer(option, text, 1)

/** `N|none`: `none` (stored as `null`) is unlimited. */
export const limit = (option: string, text: string, min: 0 | 1 = 1): number | null =>
  text === 'none' ? null : integer(option, text, min)

export const name = (option: string, text: string): string => {
  const trimmed = text.trim()
  if (trimmed.length === 0) return refuse(`invalid --${option}: must not be empty`)
  if (trimmed.length > 200) return refuse(`invalid --${option}: at most 200 characters`)
  if (CONTROL.test(trimmed)) return refuse(`invalid --${option}: control characters`)
  return trimmed
}

export const plan = (text: string): string =>
  PLAN.test(text) ? text : refuse(`invalid --plan ${shown(text)}: 1-63 characters of a-z 0-9 _ -`)

export const status = (text: string): SubscriptionStatus =>
  SUBSCRIPTION_STATUSES.find((s) => s === text) ??
  refuse(`invalid --status ${shown(text)}: one of ${SUBSCRIPTION_STATUSES.join(', ')}`)

export const strategy = (text: string): RoutingStrategy =>
  ROUTING_STRATEGIES.find((s) => s === text) ??
  refuse(`invalid --strategy ${shown(text)}: one of ${ROUTING_STRATEGIES.join(', ')}`)

export const model = (option: string, text: string): string =>
  MODEL.test(text)
    ? text
    : refuse(`invalid --${option} ${shown(text)}: 1-200 printable characters, no spaces`)

/**
 * `--flag name=true|false` (and `unset` where `allowUnset`, stored as `null`: remove the flag).
 * A flag given twice is refused rather than silently taking the last value.
 */
export const flags = (
  items: readonly string[],
  allowUnset: boolean,
): Record<string, boolean | null> => {
  const values = allowUnset ? 'true, false or unset' : 'true or false'
  const result: Record<string, boolean | null> = {}
  for (const item of items) {
    const eq = item.indexOf('=')
    const flag = eq < 0 ? item : item.slice(0, eq)
    const value = eq < 0 ? undefined : item.slice(eq + 1)
    if (!FLAG_NAME.test(flag)) {
      refuse(`invalid --flag ${shown(item)}: expected name=${values.replace(/, | or /g, '|')}`)
    }
    if (Object.hasOwn(result, flag)) refuse(`--flag ${flag} is given more than once`)
    if (value === 'true') result[flag] = true
    else if (value === 'false') result[flag] = false
    else if (value === 'unset' && allowUnset) result[flag] = null
    else refuse(`invalid --flag ${shown(item)}: the value must be ${values}`)
  }
  return result
}

/** A trailing `+word`: a key choice, or a typo of one (never taken as part of the model). */
const KEY_SUFFIX = /\+([A-Za-z]*)$/
const TARGET = /^([^/]*)\/(.+?)(?:@(\d{1,6}))?$/
const TARGET_SYNTAX = `provider/model[@weight][+${TARGET_KEYS.join('|+')}]`

/** A target as `--target` writes it: `provider/model[@weight][+key]`. */
export const targetText = ({ provider, model, weight, key }: RoutingTargetRow): string => {
  const weightText = weight === undefined ? '' : `@${weight}`
  return `${provider}/${model}${weightText}${key === undefined ? '' : `+${key}`}`
}

/**
 * `provider/model[@weight][+organization|+operator]`. The model is everything after the first `/`
 * (it may hold more slashes and colons, e.g. `together/meta-llama/Llama-3-70b`,
 * `openai/ft:gpt-4o-mini:acme::abc123`); a trailing `@<digits>` is the weight, which only the
 * weighted strategy reads and which it requires on every target; a final `+organization` or
 * `+operator` says whose provider key the target uses (absent: the organisation's if it stored one,
 * else the operator's). Any other final `+word` is refused as a misspelt key choice, so a model name
 * cannot end in one. The same provider/model with different key choices are different targets.
 */
export const targets = (items: readonly string[], routing: RoutingStrategy): RoutingTargetRow[] => {
  if (items.length > MAX_TARGETS) refuse(`too many --target: at most ${MAX_TARGETS}`)
  const seen = new Set<string>()
  return items.map((item) => {
    const suffix = KEY_SUFFIX.exec(item)
    let key: TargetKey | undefined
    if (suffix !== null) {
      key =
        TARGET_KEYS.find((k) => k === suffix[1]) ??
        refuse(
          `invalid key choice in --target ${shown(item)}: expected +${TARGET_KEYS.join(' or +')}`,
        )
    }
    const rest = suffix === null ? item : item.slice(0, suffix.index)
    const match = TARGET.exec(rest)
    const [, providerId = '', modelName = '', weightText] = match ?? []
    if (match === null || !PROVIDER.test(providerId) || !MODEL.test(modelName)) {
      refuse(`invalid --target ${shown(item)}: expected ${TARGET_SYNTAX}`)
    }
    if (KEY_SUFFIX.test(modelName)) {
      refuse(`invalid --target ${shown(item)}: expected ${TARGET_SYNTAX}, the key choice last`)
    }
    const id = targetText({ provider: providerId, model: modelName, key })
    if (seen.has(id)) refuse(`--target ${id} is given more than once`)
    seen.add(id)
    const keyed = key === undefined ? {} : { key }
    if (weightText === undefined) {
      if (routing === 'weighted') {
        const keyText = key === undefined ? '' : `+${key}`
        refuse(
          `--target ${id} needs a weight: ${providerId}/${modelName}@<1-${MAX_WEIGHT}>${keyText}`,
        )
      }
      return { provider: providerId, model: modelName, ...keyed }
    }
    if (routing !== 'weighted') {
      refuse(`--target ${shown(item)}: a weight only applies to --strategy weighted`)
    }
    const weight = Number(weightText)
    if (weight < 1 || weight > MAX_WEIGHT) {
      refuse(`invalid weight in --target ${shown(item)}: 1-${MAX_WEIGHT}`)
    }
    return { provider: providerId, model: modelName, weight, ...keyed }
  })
}

/** `<prompt-id>`: the id requests send in `floopy-prompt-id`. */
export const promptId = (text: string): string =>
  PROMPT_ID.test(text) ? text : refuse(`invalid prompt id ${shown(text)}: ${PROMPT_NAME_RULE}`)

/** `<label>`: named as prompt ids are, but never all digits (digits select a version number). */
export const promptLabel = (text: string): string => {
  if (!PROMPT_LABEL.test(text)) refuse(`invalid label ${shown(text)}: ${PROMPT_NAME_RULE}`)
  if (DIGITS.test(text)) {
    refuse(`invalid label ${shown(text)}: not all digits (a number selects a version)`)
  }
  return text
}

/** `<version>`: a version number, 1 or more. */
export const promptVersion = (text: string): number => {
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN
  if (Number.isInteger(value) && value >= 1 && value <= MAX_INT) return value
  return refuse(`invalid version ${shown(text)}: expected a version number (1, 2, …)`)
}

/** `--version <n|label>`: what a request's `floopy-prompt-version` may say. */
export const promptSelector = (text: string): string =>
  DIGITS.test(text) || PROMPT_LABEL.test(text)
    ? text
    : refuse(`invalid --version ${shown(text)}: expected a version number or a label`)

/**
 * `unset` (stored as `null`: remove the setting, so the organisation's or the gateway's default
 * applies), else what `parse` makes of the text; `parse`'s error then mentions `unset` too.
 */
export const orUnset = <T>(
  text: string,
  parse: (text: string, orUnsetHint: string) => T,
): T | null => (text === UNSET ? null : parse(text, `, or ${UNSET}`))

/** `--cache on|off`. */
export const cacheEnabled = (text: string, orUnsetHint = ''): boolean => {
  if (text === 'on') return true
  if (text === 'off') return false
  return refuse(`invalid --cache ${shown(text)}: expected on or off${orUnsetHint}`)
}

/** `--cache-ttl <seconds>`: whole seconds within `CACHE_TTL_SECONDS`. */
export const cacheTtl = (text: string, orUnsetHint = ''): number => {
  const { min, max } = CACHE_TTL_SECONDS
  const value = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN
  if (value >= min && value <= max) return value
  return refuse(
    `invalid --cache-ttl ${shown(text)}: expected whole seconds from ${min} to ${max} (30 days)${orUnsetHint}`,
  )
}

/** `--cache-threshold <x>`: the semantic tier's similarity threshold, in (0, 1]. */
export const cacheThreshold = (text: string, orUnsetHint = ''): number => {
  const value = DECIMAL.test(text) ? Number(text) : Number.NaN
  if (value > 0 && value <= 1) return value
  return refuse(
    `invalid --cache-threshold ${shown(text)}: expected a number greater than 0 and at most 1${orUnsetHint}`,
  )
}

/** `--namespace <ns>`: a cache namespace. */
export const cacheNamespace = (text: string): string =>
  NAMESPACE.test(text)
    ? text
    : refuse(`invalid --namespace ${shown(text)}: 1-64 characters of a-z 0-9 . _ -`)

/** `--cost-weight N`, `--latency-weight N`: a plain decimal ≥ 0 (a rule parameter). */
export const ruleWeight = (option: string, text: string): number => {
  const value = DECIMAL.test(text) ? Number(text) : Number.NaN
  if (Number.isFinite(value)) return value
  return refuse(`invalid --${option} ${shown(text)}: expected a number ≥ 0`)
}

/** A feedback metric's name: what a rule's `metric` and a feedback's `metric` say. */
export const metricName = (option: string, text: string): string =>
  RuleParamsSchema.shape.metric.safeParse(text).success
    ? text
    : refuse(`invalid --${option} ${shown(text)}: ${METRIC_NAME_RULE}`)

/**
 * `--metric name=min:max` (and `name=unset`, stored as `null`: remove the metric), repeated for
 * several: the organisation's feedback metrics and the range each value is mapped from onto a
 * reward in [0, 1]. A metric given twice is refused rather than silently taking the last range.
 */
export const metricRanges = (
  items: readonly string[],
): Record<string, { min: number; max: number } | null> => {
  const syntax = `expected name=min:max or name=${UNSET}`
  const result: Record<string, { min: number; max: number } | null> = {}
  for (const item of items) {
    const eq = item.indexOf('=')
    if (eq < 0) refuse(`invalid --metric ${shown(item)}: ${syntax}`)
    const metric = item.slice(0, eq)
    const value = item.slice(eq + 1)
    if (!RuleParamsSchema.shape.metric.safeParse(metric).success) {
      refuse(`invalid --metric ${shown(item)}: the name is ${METRIC_NAME_RULE}`)
    }
    if (Object.hasOwn(result, metric)) refuse(`--metric ${metric} is given more than once`)
    if (value === UNSET) {
      result[metric] = null
      continue
    }
    const [minText = '', maxText, ...rest] = value.split(':')
    if (
      maxText === undefined ||
      rest.length > 0 ||
      !SIGNED_DECIMAL.test(minText) ||
      !SIGNED_DECIMAL.test(maxText)
    ) {
      refuse(`invalid --metric ${shown(item)}: ${syntax}, min and max plain decimals`)
    }
    const range = { min: Number(minText), max: Number(maxText) }
    if (!MetricRangeSchema.safeParse(range).success) {
      refuse(`invalid --metric ${shown(item)}: max must be above min`)
    }
    result[metric] = range
  }
  return result
}
