/**
 * @module `org create|list|show|set`: organisations, their plan, status, limits, flags, cache
 * settings and feedback metrics.
 */
import type { OrganizationRow } from '../../../src/tenancy/schema.ts'
import { SUBSCRIPTION_STATUSES } from '../../../src/tenancy/schema.ts'
import { parseCommand, requireSome } from '../cli.ts'
import { cacheText, featuresText, fields, json, limitText, metricsText, table } from '../output.ts'
import type { OrganizationDetails } from '../rows.ts'
import { openOrgQuery, openSession, type Command, type Group } from '../session.ts'
import {
  CACHE_OPTION_NAMES,
  CACHE_OPTIONS,
  cacheChanges,
  cacheHelp,
  cacheSettings,
  cacheSynopsis,
  METRIC_OPTIONS,
  metricChanges,
  metricHelp,
} from '../settings.ts'
import type { NewOrganization, OrganizationChanges } from '../store.ts'
import * as valid from '../validate.ts'

const orgFields = (org: OrganizationRow | OrganizationDetails): string =>
  fields([
    ['id', org.id],
    ['slug', org.slug],
    ['name', org.name],
    ['plan', org.plan],
    ['status', org.subscription_status],
    ['monthly limit', limitText(org.monthly_request_limit)],
    ['rpm limit', limitText(org.rpm_limit)],
    ['flags', featuresText(org.features)],
    ['cache', cacheText(org.settings)],
    ['feedback metrics', metricsText(org.settings)],
    ...('key_count' in org ? [['active keys', org.key_count] as const] : []),
    ['created', org.created_at],
    ['updated', org.updated_at],
  ])

const SETTINGS = `  --name N                  display name
  --plan P                  plan id (1-63 of a-z 0-9 _ -)
  --status S                ${SUBSCRIPTION_STATUSES.join('|')}
  --monthly-limit N|none    requests per calendar month (UTC); 0 blocks, none is unlimited
  --rpm N|none              requests per minute across all the org's keys; none is unlimited`

/** Plan flags are booleans in `features`; any name is stored as given. */
const FLAGS_HELP = `Plan flags are feature flags, e.g. has_advanced_cache (the cache's bucketed tier)
and has_advanced_firewall.`

const create: Command = {
  name: 'create',
  synopsis: `<slug> [--name N] [--plan P] [--status S] [--monthly-limit N|none] [--rpm N|none] [--flag name=true|false]... ${cacheSynopsis(false)}`,
  summary: 'create an organization',
  help: `Creates an organization. <slug> is 2-63 characters of a-z 0-9 -, unique.

Options:
${SETTINGS}
  --flag name=true|false    a feature flag; repeat for several
${cacheHelp(false, 'gateway')}

Unset options take the store's defaults. ${FLAGS_HELP}`,
  run: async (ctx, args) => {
    const command = 'org create'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      {
        name: { type: 'string' },
        plan: { type: 'string' },
        status: { type: 'string' },
        'monthly-limit': { type: 'string' },
        rpm: { type: 'string' },
        flag: { type: 'string', multiple: true },
        ...CACHE_OPTIONS,
      },
      ['<slug>'],
    )
    const org: NewOrganization = { slug: valid.slug(positionals[0] ?? '') }
    if (values.name !== undefined) org.name = valid.name('name', values.name)
    if (values.plan !== undefined) org.plan = valid.plan(values.plan)
    if (values.status !== undefined) org.subscription_status = valid.status(values.status)
    const monthly = values['monthly-limit']
    if (monthly !== undefined) org.monthly_request_limit = valid.limit('monthly-limit', monthly, 0)
    if (values.rpm !== undefined) org.rpm_limit = valid.limit('rpm', values.rpm)
    if (values.flag !== undefined) {
      const flags = valid.flags(values.flag, false)
      org.features = Object.fromEntries(
        Object.entries(flags).filter((e): e is [string, boolean] => e[1] !== null),
      )
    }
    const settings = cacheSettings(values)
    if (settings !== undefined) org.settings = settings
    const session = await openSession(ctx, globals, command)
    const created = await session.store.createOrg(org)
    ctx.io.out(`Created organization ${created.slug}.\n${orgFields(created)}`)
    await session.changed()
  },
}

const list: Command = {
  name: 'list',
  synopsis: '[--json]',
  summary: 'list organizations',
  help: `Lists every organization.

Options:
  --json    print the rows as JSON`,
  run: async (ctx, args) => {
    const command = 'org list'
    const { values, globals } = parseCommand(command, args, { json: { type: 'boolean' } }, [])
    const { store } = await openSession(ctx, globals, command)
    const orgs = await store.listOrgs()
    if (values.json === true) ctx.io.out(json(orgs))
    else if (orgs.length === 0) ctx.io.out('No organizations.')
    else {
      ctx.io.out(
        table(
          ['SLUG', 'NAME', 'PLAN', 'STATUS', 'MONTHLY', 'RPM', 'ID'],
          orgs.map((o) => [
            o.slug,
            o.name,
            o.plan,
            o.subscription_status,
            limitText(o.monthly_request_limit),
            limitText(o.rpm_limit),
            o.id,
          ]),
        ),
      )
    }
  },
}

const show: Command = {
  name: 'show',
  synopsis: '<org> [--json]',
  summary: 'show one organization (<org>: its id or slug)',
  help: `Shows an organization and how many active (unrevoked) API keys it has. <org> is its
id (uuid) or slug. "cache" lists the cache settings set (enabled, ttl_seconds, threshold); the
others take the gateway's defaults. "feedback metrics" lists the metrics declared, as
name=min:max; rating is always there, on [0, 1] unless declared otherwise.

Options:
  --json    print the row as JSON`,
  run: async (ctx, args) => {
    const { ref, store, asJson } = await openOrgQuery(ctx, args, 'org show')
    const org = await store.getOrg(ref)
    ctx.io.out(asJson ? json(org) : orgFields(org))
  },
}

const set: Command = {
  name: 'set',
  synopsis: `<org> [--name N] [--plan P] [--status S] [--monthly-limit N|none] [--rpm N|none] [--flag name=true|false|unset]... ${cacheSynopsis(true)} [--metric NAME=MIN:MAX|unset]...`,
  summary: 'change an organization',
  help: `Changes an organization's settings; what is not given stays as it is.

Options:
${SETTINGS}
  --flag name=true|false|unset
                            set a feature flag, or remove it; repeat for several
${cacheHelp(true, 'gateway')}
${metricHelp()}

${FLAGS_HELP}
Example: --flag has_advanced_cache=true --cache on --cache-ttl 86400
Example: --metric helpful=1:5 --metric thumbs=-1:1 (a rule uses one: routing set --metric)`,
  run: async (ctx, args) => {
    const command = 'org set'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      {
        name: { type: 'string' },
        plan: { type: 'string' },
        status: { type: 'string' },
        'monthly-limit': { type: 'string' },
        rpm: { type: 'string' },
        flag: { type: 'string', multiple: true },
        ...CACHE_OPTIONS,
        ...METRIC_OPTIONS,
      },
      ['<org>'],
    )
    requireSome(command, values, [
      'name',
      'plan',
      'status',
      'monthly-limit',
      'rpm',
      'flag',
      ...CACHE_OPTION_NAMES,
      'metric',
    ])
    const ref = valid.orgRef(positionals[0] ?? '')
    const changes: OrganizationChanges = {}
    if (values.name !== undefined) changes.name = valid.name('name', values.name)
    if (values.plan !== undefined) changes.plan = valid.plan(values.plan)
    if (values.status !== undefined) changes.subscription_status = valid.status(values.status)
    const monthly = values['monthly-limit']
    if (monthly !== undefined) {
      changes.monthly_request_limit = valid.limit('monthly-limit', monthly, 0)
    }
    if (values.rpm !== undefined) changes.rpm_limit = valid.limit('rpm', values.rpm)
    if (values.flag !== undefined) changes.features = valid.flags(values.flag, true)
    const cache = cacheChanges(values)
    const metrics = metricChanges(values)
    if (cache !== undefined || metrics !== undefined) changes.settings = { ...cache, ...metrics }
    const session = await openSession(ctx, globals, command)
    const org = await session.store.updateOrg(ref, changes)
    ctx.io.out(`Updated organization ${org.slug}.\n${orgFields(org)}`)
    await session.changed()
  },
}

export const orgCommands: Group = {
  name: 'org',
  summary: 'organizations: create, list, show, set',
  commands: [create, list, show, set],
}
