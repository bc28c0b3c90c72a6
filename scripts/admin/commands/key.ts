/**
 * @module `key issue|list|revoke|set`: gateway API keys. Only `issue` ever prints a key, once;
 * the store keeps its SHA-256 and listings show `prefix…last4`.
 */
import { generateApiKey, hashApiKey, parseApiKey } from '../../../src/security/api-key.ts'
import { CliError, parseCommand, requireSome } from '../cli.ts'
import { cacheText, fields, json, limitText, table } from '../output.ts'
import type { ApiKeyInfo } from '../rows.ts'
import { openOrgQuery, openSession, type Command, type Group } from '../session.ts'
import {
  CACHE_OPTION_NAMES,
  CACHE_OPTIONS,
  cacheChanges,
  cacheHelp,
  cacheSettings,
  cacheSynopsis,
} from '../settings.ts'
import type { ApiKeyChanges, NewApiKey } from '../store.ts'
import * as valid from '../validate.ts'

const shownKey = (key: ApiKeyInfo): string => `${key.display_prefix}…${key.last4}`

const issue: Command = {
  name: 'issue',
  synopsis: `<org> [--name N] [--rpm N] [--test] ${cacheSynopsis(false)} [--json]`,
  summary: 'issue an API key (printed once)',
  help: `Issues an API key for the organization and prints it ONCE: only its SHA-256 is stored, so
it cannot be shown again. Store it now.

Options:
  --name N    a label for listings
  --rpm N     requests per minute for this key (the org's limit applies too)
  --test      a test-mode key (flo_sk_test_…) instead of a live one
  --json      print {key, id, org_id, prefix, last4, mode, …} as JSON

The key's own cache settings, over the organization's:
${cacheHelp(false, 'org')}`,
  run: async (ctx, args) => {
    const command = 'key issue'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      {
        name: { type: 'string' },
        rpm: { type: 'string' },
        test: { type: 'boolean' },
        json: { type: 'boolean' },
        ...CACHE_OPTIONS,
      },
      ['<org>'],
    )
    const ref = valid.orgRef(positionals[0] ?? '')
    const mode = values.test === true ? 'test' : 'live'
    const key = generateApiKey(mode)
    const parsed = parseApiKey(key)
    if (!parsed.ok) throw new CliError('internal: a generated key failed its own check')
    const input: NewApiKey = {
      key_hash: await hashApiKey(key),
      display_prefix: parsed.displayPrefix,
      last4: parsed.last4,
      mode,
    }
    if (values.name !== undefined) input.name = valid.name('name', values.name)
    if (values.rpm !== undefined) input.rpm_limit = valid.positiveInt('rpm', values.rpm)
    const settings = cacheSettings(values)
    if (settings !== undefined) input.settings = settings
    const session = await openSession(ctx, globals, command)
    const row = await session.store.createApiKey(ref, input)
    if (values.json === true) {
      ctx.io.out(json({ key, ...row }))
    } else {
      ctx.io.out(
        `API key (shown once; it cannot be shown again):\n\n  ${key}\n\n` +
          fields([
            ['id', row.id],
            ['org', row.org_id],
            ['name', row.name],
            ['prefix', row.display_prefix],
            ['last4', row.last4],
            ['mode', row.mode],
            ['rpm limit', limitText(row.rpm_limit)],
            ['cache', cacheText(row.settings)],
          ]),
      )
    }
    await session.changed()
  },
}

const list: Command = {
  name: 'list',
  synopsis: '<org> [--json]',
  summary: "list an organization's API keys (never the keys)",
  help: `Lists the organization's API keys, revoked ones included. A key shows as prefix…last4;
CACHE lists the key's own cache settings (enabled, ttl_seconds, threshold), each over the
organization's.

Options:
  --json    print the rows as JSON`,
  run: async (ctx, args) => {
    const { ref, store, asJson } = await openOrgQuery(ctx, args, 'key list')
    const keys = await store.listApiKeys(ref)
    if (asJson) ctx.io.out(json(keys))
    else if (keys.length === 0) ctx.io.out('No API keys.')
    else {
      ctx.io.out(
        table(
          ['ID', 'NAME', 'KEY', 'MODE', 'RPM', 'CACHE', 'CREATED', 'REVOKED'],
          keys.map((k) => [
            k.id,
            k.name,
            shownKey(k),
            k.mode,
            limitText(k.rpm_limit),
            cacheText(k.settings),
            k.created_at,
            k.revoked_at,
          ]),
        ),
      )
    }
  },
}

const revoke: Command = {
  name: 'revoke',
  synopsis: '<key-id>',
  summary: 'revoke an API key',
  help: `Revokes an API key for good. Revoking a revoked key keeps its first revocation time.
With Supabase, the key's cached config is deleted from Redis and the config epoch bumped, so
gateways stop accepting it at once.`,
  run: async (ctx, args) => {
    const command = 'key revoke'
    const { positionals, globals } = parseCommand(command, args, {}, ['<key-id>'])
    const id = valid.keyId(positionals[0] ?? '')
    const session = await openSession(ctx, globals, command)
    const revoked = await session.store.revokeApiKey(id)
    ctx.io.out(`Revoked API key ${revoked.id} (revoked at ${revoked.revoked_at}).`)
    await session.changed({ revokedKeyHashes: [revoked.key_hash] })
  },
}

const set: Command = {
  name: 'set',
  synopsis: `<key-id> [--name N] [--rpm N|none] ${cacheSynopsis(true)}`,
  summary: "change an API key's name, rate limit or cache settings",
  help: `Changes an API key's label, its own requests-per-minute limit or its own cache settings;
what is not given stays as it is.

Options:
  --name N          a label for listings
  --rpm N|none      requests per minute for this key; none leaves only the org's limit

The key's own cache settings, each over the organization's:
${cacheHelp(true, 'org')}`,
  run: async (ctx, args) => {
    const command = 'key set'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { name: { type: 'string' }, rpm: { type: 'string' }, ...CACHE_OPTIONS },
      ['<key-id>'],
    )
    requireSome(command, values, ['name', 'rpm', ...CACHE_OPTION_NAMES])
    const id = valid.keyId(positionals[0] ?? '')
    const changes: ApiKeyChanges = {}
    if (values.name !== undefined) changes.name = valid.name('name', values.name)
    if (values.rpm !== undefined) changes.rpm_limit = valid.limit('rpm', values.rpm)
    const settings = cacheChanges(values)
    if (settings !== undefined) changes.settings = settings
    const session = await openSession(ctx, globals, command)
    const key = await session.store.updateApiKey(id, changes)
    ctx.io.out(
      `Updated API key ${key.id}.\n` +
        fields([
          ['name', key.name],
          ['key', shownKey(key)],
          ['rpm limit', limitText(key.rpm_limit)],
          ['cache', cacheText(key.settings)],
        ]),
    )
    await session.changed()
  },
}

export const keyCommands: Group = {
  name: 'key',
  summary: 'gateway API keys: issue, list, revoke, set',
  commands: [issue, list, revoke, set],
}
