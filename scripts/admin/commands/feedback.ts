/**
 * @module `feedback stats`: what routing has learned from an organisation's feedback, per routing
 * rule and target — the feedback count, the posterior mean reward with a 90 % credible interval,
 * and the share of traffic the `feedback` strategy gives each target now.
 *
 * The statistics are the gateways' shared state: one Redis hash per organisation, rule and metric
 * (`feedbackStatsKey`, fields `<provider/model>|a`, `|b`, `|n`), read here with `HGETALL`. A
 * gateway without Upstash keeps them in its isolate's memory, out of the CLI's reach. Intervals
 * and shares are Monte Carlo estimates with a fixed seed, so the same statistics always print the
 * same figures.
 */
import {
  credibleInterval,
  meanOf,
  posteriorsOfHash,
  trafficShares,
  type Posterior,
} from '../../../src/feedback/posterior.ts'
import { ruleTag } from '../../../src/feedback/reference.ts'
import type { RoutingRuleRow } from '../../../src/stores/embedded/tenants-file.ts'
import { feedbackStatsKey } from '../../../src/stores/shared-keys.ts'
import { CliError, parseCommand } from '../cli.ts'
import { json, table } from '../output.ts'
import { openSession, type Command, type Group } from '../session.ts'
import * as valid from '../validate.ts'

/** The gateway's defaults (`src/config.ts`): feedbacks per target before exploration ends, and
 * the exploration floor afterwards. */
const DEFAULT_MIN_FEEDBACK = 10
const DEFAULT_EXPLORATION = 0.03
const LEVEL = 0.9
/** The seed of every Monte Carlo estimate: reproducible output. */
const SEED = 0x5eed_f00d
const DEFAULT_METRIC = 'rating'

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/

const present = (value: string | undefined): value is string => value !== undefined && value !== ''

/** mulberry32: a small seeded PRNG, uniform on [0, 1). */
const seeded = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** `FLOOPY_FEEDBACK_MIN_SAMPLES` and `FLOOPY_FEEDBACK_EXPLORATION` as the gateway reads them. */
const strategySettings = (env: NodeJS.ProcessEnv): { minFeedback: number; floor: number } => {
  const minText = env.FLOOPY_FEEDBACK_MIN_SAMPLES
  const floorText = env.FLOOPY_FEEDBACK_EXPLORATION
  const minFeedback = present(minText) ? Number(minText) : DEFAULT_MIN_FEEDBACK
  if (!Number.isInteger(minFeedback) || minFeedback <= 0) {
    throw new CliError('FLOOPY_FEEDBACK_MIN_SAMPLES must be a positive whole number')
  }
  const floor = present(floorText) ? Number(floorText) : DEFAULT_EXPLORATION
  if (!Number.isFinite(floor) || floor < 0 || floor > 0.5) {
    throw new CliError('FLOOPY_FEEDBACK_EXPLORATION must be a number from 0 to 0.5')
  }
  return { minFeedback, floor }
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits))

type TargetStats = {
  target: string
  key: string | null
  n: number
  a: number
  b: number
  mean: number
  interval: [number, number]
  /** `null` for a rule of another strategy: nothing orders by the statistics. */
  traffic_share: number | null
}

type RuleStats = {
  id: string
  api_key_id: string | null
  model: string | null
  strategy: RoutingRuleRow['strategy']
  metric: string
  tag: string
  stats_key: string
  targets: TargetStats[]
}

/** A rule's metric (older rows have no params) and where its statistics are. */
const statsOf = (orgId: string, rule: RoutingRuleRow) => {
  const metric = rule.params?.metric ?? DEFAULT_METRIC
  const tag = ruleTag({ apiKeyId: rule.api_key_id, model: rule.model })
  return { metric, tag, key: feedbackStatsKey(orgId, tag, metric) }
}

const ruleStats = (
  rule: RoutingRuleRow,
  where: { metric: string; tag: string; key: string },
  hash: ReadonlyMap<string, Posterior>,
  settings: { minFeedback: number; floor: number },
): RuleStats => {
  const { metric, tag } = where
  // The hash is by `provider/model`: targets differing only in whose key they use share one.
  const posteriors = rule.targets.map(
    (t) => hash.get(`${t.provider}/${t.model}`) ?? { a: 0, b: 0, n: 0 },
  )
  const shares =
    rule.strategy === 'feedback'
      ? trafficShares(
          { posteriors, minFeedback: settings.minFeedback, floor: settings.floor },
          seeded(SEED),
        )
      : undefined
  return {
    id: rule.id,
    api_key_id: rule.api_key_id,
    model: rule.model,
    strategy: rule.strategy,
    metric,
    tag,
    stats_key: where.key,
    targets: rule.targets.map((t, i) => {
      const p = posteriors[i] ?? { a: 0, b: 0, n: 0 }
      const [low, high] = credibleInterval(p, seeded(SEED), LEVEL)
      const share = shares?.[i]
      return {
        target: `${t.provider}/${t.model}`,
        key: t.key ?? null,
        n: p.n,
        a: round(p.a, 6),
        b: round(p.b, 6),
        mean: round(meanOf(p), 4),
        interval: [round(low, 4), round(high, 4)],
        traffic_share: share === undefined ? null : round(share, 4),
      }
    }),
  }
}

const scopeText = (rule: RuleStats): string =>
  `${rule.api_key_id === null ? 'the organization' : `key ${rule.api_key_id}`}, ${
    rule.model === null ? 'any model' : `model ${rule.model}`
  }`

const percent = (share: number | null): string =>
  share === null ? '-' : `${(share * 100).toFixed(1)}%`

const ruleText = (rule: RuleStats): string => {
  const header =
    `Rule ${rule.id} (${scopeText(rule)}): strategy ${rule.strategy}, metric ${rule.metric}` +
    (rule.strategy === 'feedback' ? '' : ' (traffic shares apply to strategy feedback only)')
  return `${header}\n${table(
    ['TARGET', 'FEEDBACK', 'MEAN', `${String(LEVEL * 100)}% INTERVAL`, 'SHARE'],
    rule.targets.map((t) => [
      `${t.target}${t.key === null ? '' : `+${t.key}`}`,
      String(t.n),
      t.mean.toFixed(3),
      `${t.interval[0].toFixed(3)}-${t.interval[1].toFixed(3)}`,
      percent(t.traffic_share),
    ]),
  )}`
}

const NO_REDIS = (vars: string) =>
  `${vars} are not set: feedback statistics live in the Redis the gateways share. ` +
  'A gateway without Upstash (npm run dev, the embedded stores) keeps them in its isolate’s ' +
  'memory, which the CLI cannot read.'

const stats: Command = {
  name: 'stats',
  synopsis: '<org> [--rule <id>] [--json]',
  summary: 'what routing learned from feedback, per rule and target',
  help: `Shows, for each routing rule of the organization (or the one --rule names) and each of its
targets: the feedback count (FEEDBACK, undecayed), the posterior mean reward (MEAN, in [0, 1]) with
a 90% credible interval, and the share of traffic the feedback strategy gives the target now
(SHARE: how often Thompson sampling puts it first, over 4,000 draws; '-' for a rule of another
strategy, whose traffic still teaches the statistics). The rule's metric is its --metric (default
rating).

The shares follow the gateway's exploration: FLOOPY_FEEDBACK_MIN_SAMPLES (default 10) feedbacks
per target before exploration ends, then FLOOPY_FEEDBACK_EXPLORATION (default 0.03) of uniformly
random first places; set them here as the gateway has them. Cost and latency penalties
(--cost-weight, --latency-weight) are NOT applied (taken as 0), nor sessions kept on a target:
the gateway's shares differ where a rule sets them. Intervals and shares are Monte Carlo estimates
with a fixed seed: the same statistics always print the same figures.

The statistics are read from the Redis the gateways share (UPSTASH_REDIS_REST_URL and
UPSTASH_REDIS_REST_TOKEN, required). A gateway without Upstash keeps them in its isolate's
memory, which the CLI cannot read.

Options:
  --rule <id>   only this routing rule (its id, as routing list --json shows it)
  --json        print {org_id, org, min_feedback, exploration, penalties, level, rules: [{id,
                api_key_id, model, strategy, metric, tag, stats_key, targets: [{target, key, n,
                a, b, mean, interval, traffic_share}]}]} as JSON`,
  run: async (ctx, args) => {
    const command = 'feedback stats'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { rule: { type: 'string' }, json: { type: 'boolean' } },
      ['<org>'],
    )
    const ref = valid.orgRef(positionals[0] ?? '')
    const ruleId = values.rule
    if (ruleId !== undefined && (ruleId === '' || ruleId.length > 128 || CONTROL.test(ruleId))) {
      throw new CliError('invalid --rule: expected a routing rule id')
    }
    const { io } = ctx
    const settings = strategySettings(io.env)
    const { reasonOf, UPSTASH_VARS, upstashFromEnv } = await import('../upstash.ts')
    const redis = upstashFromEnv(io.env)
    if (redis === undefined) throw new CliError(NO_REDIS(UPSTASH_VARS))
    const { store } = await openSession(ctx, globals, command)
    const org = await store.getOrg(ref)
    const all = await store.listRoutingRules(ref)
    const wanted =
      ruleId === undefined ? undefined : valid.isUuid(ruleId) ? ruleId.toLowerCase() : ruleId
    const rules = wanted === undefined ? all : all.filter((r) => r.id === wanted)
    if (wanted !== undefined && rules.length === 0) {
      throw new CliError(`no routing rule ${wanted} in ${org.slug}`)
    }
    const located = rules.map((rule) => ({ rule, where: statsOf(org.id, rule) }))
    let result: RuleStats[]
    try {
      result = await Promise.all(
        located.map(async ({ rule, where }) =>
          ruleStats(rule, where, posteriorsOfHash(await redis.hgetall(where.key)), settings),
        ),
      )
    } catch (error) {
      throw new CliError(`Redis: ${reasonOf(error)}`)
    }
    if (values.json === true) {
      io.out(
        json({
          org_id: org.id,
          org: org.slug,
          min_feedback: settings.minFeedback,
          exploration: settings.floor,
          penalties: 0,
          level: LEVEL,
          rules: result,
        }),
      )
      return
    }
    if (result.length === 0) {
      io.out(`No routing rules in ${org.slug}.`)
      return
    }
    io.out(
      `${result.map(ruleText).join('\n\n')}\n\n` +
        `Shares: Thompson sampling with min feedback ${String(settings.minFeedback)}, exploration ` +
        `${String(settings.floor)}, no cost or latency penalties.`,
    )
  },
}

export const feedbackCommands: Group = {
  name: 'feedback',
  summary: 'what routing learned from feedback: stats',
  commands: [stats],
}
