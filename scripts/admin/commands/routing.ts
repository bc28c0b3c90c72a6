/**
 * @module `routing set|list|remove`: routing rules. A rule applies to the whole organisation or to
 * one of its keys, for any model or one requested model; (org, key, model) is unique, so `set`
 * replaces the rule with the same scope, its parameters (the `feedback` strategy's) included.
 */
import type { ParseArgsOptionsConfig } from 'node:util'
import type { RoutingRuleRow } from '../../../src/stores/embedded/tenants-file.ts'
import {
  ROUTING_STRATEGIES,
  type RoutingStrategy,
  type RuleParams,
} from '../../../src/tenancy/schema.ts'
import { CliError, parseCommand, UsageError, type OptionValues } from '../cli.ts'
import { json, paramsText, table } from '../output.ts'
import { openOrgQuery, openSession, type Command, type Group } from '../session.ts'
import type { RuleScope } from '../store.ts'
import * as valid from '../validate.ts'

const SCOPE_OPTIONS = { key: { type: 'string' }, model: { type: 'string' } } as const

const scopeOf = (values: { key?: string; model?: string }): RuleScope => ({
  apiKeyId: values.key === undefined ? null : valid.keyId(values.key),
  model: values.model === undefined ? null : valid.model('model', values.model),
})

const scopeText = ({ apiKeyId, model }: RuleScope): string =>
  `${apiKeyId === null ? 'the organization' : `key ${apiKeyId}`}, ${
    model === null ? 'any model' : `model ${model}`
  }`

/** The targets as `--target` writes them: `openai/gpt-4o+organization, openai/gpt-4o@2`. */
const targetsText = (rule: RoutingRuleRow): string => rule.targets.map(valid.targetText).join(', ')

/** The `feedback` strategy's parameters; refused with any other strategy. */
const PARAM_OPTIONS = {
  'cost-weight': { type: 'string' },
  'latency-weight': { type: 'string' },
  metric: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig

const paramsOf = (
  values: OptionValues<typeof PARAM_OPTIONS>,
  strategy: RoutingStrategy,
): RuleParams => {
  const first = (Object.keys(PARAM_OPTIONS) as (keyof typeof PARAM_OPTIONS)[]).find(
    (option) => values[option] !== undefined,
  )
  if (first !== undefined && strategy !== 'feedback') {
    throw new CliError(`--${first} only applies to --strategy feedback`)
  }
  const params: RuleParams = {}
  const cost = values['cost-weight']
  if (cost !== undefined) params.cost_weight = valid.ruleWeight('cost-weight', cost)
  const latency = values['latency-weight']
  if (latency !== undefined) params.latency_weight = valid.ruleWeight('latency-weight', latency)
  if (values.metric !== undefined) params.metric = valid.metricName('metric', values.metric)
  return params
}

/** ` with cost_weight=0.02 metric=helpful`, or nothing for a rule without parameters. */
const withParams = (rule: RoutingRuleRow): string => {
  const text = paramsText(rule.params)
  return text === '-' ? '' : ` with ${text}`
}

const SCOPE_HELP = `  --key <key-id>    the rule applies to this key of the org only (default: the whole org)
  --model M         the rule applies to requests for model M only (default: any model)`

const set: Command = {
  name: 'set',
  synopsis:
    '<org> [--key <key-id>] [--model M] --strategy S --target provider/model[@weight][+key]... [--cost-weight N] [--latency-weight N] [--metric NAME]',
  summary: 'set the routing rule for an organization, key and/or model',
  help: `Sets the routing rule for a scope, replacing the rule already there.

Options:
${SCOPE_HELP}
  --strategy S      ${ROUTING_STRATEGIES.join('|')} (required)
  --target T        provider/model[@weight][+organization|+operator], in order of preference;
                    repeat for several (required). The model may hold / and :
                    (together/meta-llama/Llama-3-70b, openai/ft:gpt-4o-mini:acme::abc123).
                    With --strategy weighted each target needs a weight: provider/model@<1-10000>
                    Whose provider key the target uses:
                      +organization  the organization's own stored key (required)
                      +operator      the gateway's <PROVIDER>_API_KEY, even if the org stored one
                      (neither)      the organization's key if it stored one, else the gateway's
                    The same provider/model may appear once per key choice.

With --strategy feedback (Thompson sampling on each target's feedback rewards, in [0, 1]):
  --cost-weight N   reward points a target loses per USD of its price per million tokens
                    (input and output averaged); N >= 0, default 0
  --latency-weight N
                    reward points a target loses per second of its average latency;
                    N >= 0, default 0
  --metric NAME     the feedback metric the rule learns from (default rating); declare
                    others with: org set <org> --metric NAME=MIN:MAX
Setting a rule again replaces its parameters: those not given are gone.

Examples:
  npm run admin -- routing set acme --strategy fallback \\
    --target openai/gpt-4o-mini --target anthropic/claude-3-5-haiku-latest
  npm run admin -- routing set acme --strategy fallback \\
    --target openai/gpt-4o+organization --target openai/gpt-4o+operator
  npm run admin -- routing set acme --strategy weighted \\
    --target openai/gpt-4o@3+operator --target groq/llama-3.3-70b-versatile@1
  npm run admin -- routing set acme --strategy feedback --metric helpful \\
    --cost-weight 0.01 --latency-weight 0.05 \\
    --target openai/gpt-4o --target anthropic/claude-sonnet-4-5`,
  run: async (ctx, args) => {
    const command = 'routing set'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      {
        ...SCOPE_OPTIONS,
        strategy: { type: 'string' },
        target: { type: 'string', multiple: true },
        ...PARAM_OPTIONS,
      },
      ['<org>'],
    )
    if (values.strategy === undefined) throw new UsageError('missing --strategy', command)
    if (values.target === undefined) throw new UsageError('missing --target', command)
    const ref = valid.orgRef(positionals[0] ?? '')
    const scope = scopeOf(values)
    const strategy = valid.strategy(values.strategy)
    const params = paramsOf(values, strategy)
    const targets = valid.targets(values.target, strategy)
    const session = await openSession(ctx, globals, command)
    const rule = await session.store.setRoutingRule(ref, { ...scope, strategy, targets, params })
    ctx.io.out(
      `Routing for ${scopeText(scope)}: ${rule.strategy} over ${targetsText(rule)}${withParams(rule)} (rule ${rule.id}).`,
    )
    await session.changed()
  },
}

const list: Command = {
  name: 'list',
  synopsis: '<org> [--json]',
  summary: "list an organization's routing rules",
  help: `Lists the organization's routing rules: its own and its keys'. PARAMS are the feedback
strategy's parameters set (cost_weight, latency_weight, metric), - for none.

Options:
  --json    print the rows as JSON`,
  run: async (ctx, args) => {
    const { ref, store, asJson } = await openOrgQuery(ctx, args, 'routing list')
    const rules = await store.listRoutingRules(ref)
    if (asJson) ctx.io.out(json(rules))
    else if (rules.length === 0) ctx.io.out('No routing rules.')
    else {
      ctx.io.out(
        table(
          ['KEY', 'MODEL', 'STRATEGY', 'TARGETS', 'PARAMS', 'UPDATED'],
          rules.map((r) => [
            r.api_key_id ?? '(org)',
            r.model ?? '(any)',
            r.strategy,
            targetsText(r),
            paramsText(r.params),
            r.updated_at,
          ]),
        ),
      )
    }
  },
}

const remove: Command = {
  name: 'remove',
  synopsis: '<org> [--key <key-id>] [--model M]',
  summary: 'delete the routing rule of a scope',
  help: `Deletes the rule of exactly this scope (without --key and --model: the organization's
default rule).

Options:
${SCOPE_HELP}`,
  run: async (ctx, args) => {
    const command = 'routing remove'
    const { values, positionals, globals } = parseCommand(command, args, SCOPE_OPTIONS, ['<org>'])
    const ref = valid.orgRef(positionals[0] ?? '')
    const scope = scopeOf(values)
    const session = await openSession(ctx, globals, command)
    if (!(await session.store.deleteRoutingRule(ref, scope))) {
      throw new CliError(`no routing rule for ${scopeText(scope)} in ${ref}`)
    }
    ctx.io.out(`Removed the routing rule for ${scopeText(scope)} of ${ref}.`)
    await session.changed()
  },
}

export const routingCommands: Group = {
  name: 'routing',
  summary: 'routing rules: set, list, remove',
  commands: [set, list, remove],
}
