/**
 * @module `provider-key add|list|remove|rotate`: the organisations' own provider API keys, sealed
 * by the vault (`src/security/vault.ts`) under the org's uuid and the provider id.
 *
 * A provider key never comes from argv (other local users can read a process's arguments): it is
 * read from stdin, prompted for without echo on a terminal, or taken from a named environment
 * variable. It is never printed, and neither is its envelope.
 */
import {
  credentialsText,
  parseBedrockCredentials,
} from '../../../src/providers/bedrock/credentials.ts'
import { needsRewrap, rewrapProviderKey, sealProviderKey } from '../../../src/security/vault.ts'
import { CliError, parseCommand, type Io } from '../cli.ts'
import { json, table } from '../output.ts'
import { openOrgQuery, openSession, type Command, type Group } from '../session.ts'
import * as valid from '../validate.ts'

const MAX_KEY_LENGTH = 8192

/** The provider key from `--from-env VAR` or stdin, checked without ever echoing it. */
const readProviderKey = async (io: Io, provider: string, fromEnv: string | undefined) => {
  let text: string
  let source: string
  if (fromEnv !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(fromEnv)) {
      throw new CliError('invalid --from-env: expected an environment variable name')
    }
    text = io.env[fromEnv] ?? ''
    source = `$${fromEnv}`
  } else {
    const what = provider === 'bedrock' ? 'credentials (JSON)' : 'API key'
    text = await io.readSecret(`${provider} ${what} (input hidden): `)
    source = 'stdin'
  }
  const key = text.replace(/[\r\n]+$/, '').trim()
  if (key === '') throw new CliError(`no provider key given (${source} is empty)`)
  if (key.length > MAX_KEY_LENGTH) {
    throw new CliError(
      `the provider key from ${source} is longer than ${MAX_KEY_LENGTH} characters`,
    )
  }
  if (provider === 'bedrock') {
    // A JSON credential (src/providers/bedrock/credentials.ts), stored in its compact form.
    try {
      return credentialsText(parseBedrockCredentials(key))
    } catch (err) {
      // The parser's messages name a field at most, never a value.
      throw new CliError(
        `the ${source} value is not usable: ${err instanceof Error ? err.message : 'invalid'}`,
      )
    }
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new CliError(
      `the provider key from ${source} has spaces, line breaks or non-ASCII characters; ` +
        'give exactly one key',
    )
  }
  return key
}

const add: Command = {
  name: 'add',
  synopsis: '<org> <provider> [--from-env VAR]',
  summary: "store an organization's key for a provider (read from stdin)",
  help: `Seals the organization's API key for <provider> (e.g. openai, anthropic) with the vault
keyring and stores it, replacing any earlier one. The key is read from stdin (prompted for,
without echo, on a terminal) or from the environment variable named by --from-env; never from
the command line.

The keyring is FLOOPY_VAULT_KEKS from the environment; with the local store, else the one in
.dev.vars, which is generated there on first use.

Options:
  --from-env VAR    read the key from the environment variable VAR

For bedrock the key is a JSON credential, {"region","accessKeyId","secretAccessKey"} (with
"sessionToken" for temporary credentials) or {"region","apiKey"} (a Bedrock API key); it is
checked before it is sealed.

Examples:
  printf %s "$OPENAI_KEY" | npm run admin -- provider-key add acme openai
  npm run admin -- provider-key add acme openai --from-env OPENAI_KEY
  printf '{"region":"eu-west-1","apiKey":"%s"}' "$BEDROCK_KEY" |
    npm run admin -- provider-key add acme bedrock`,
  run: async (ctx, args) => {
    const command = 'provider-key add'
    const { values, positionals, globals } = parseCommand(
      command,
      args,
      { 'from-env': { type: 'string' } },
      ['<org>', '<provider>'],
    )
    const ref = valid.orgRef(positionals[0] ?? '')
    const provider = valid.provider(positionals[1] ?? '')
    const session = await openSession(ctx, globals, command)
    // The envelope is bound to the org's uuid, so resolve a slug first (and refuse an unknown org
    // before asking for a secret).
    const org = await session.store.getOrg(ref)
    const key = await readProviderKey(ctx.io, provider, values['from-env'])
    const keyring = await session.keyring(true)
    if (keyring === undefined) throw new CliError('no vault keyring')
    const envelope = sealProviderKey(keyring, { orgId: org.id, provider }, key)
    const stored = await session.store.putProviderKey(org.id, provider, envelope)
    ctx.io.out(`Stored the ${provider} key of ${org.slug} (sealed under KEK ${stored.kek_id}).`)
    await session.changed()
  },
}

const list: Command = {
  name: 'list',
  synopsis: '<org> [--json]',
  summary: "list an organization's provider keys (never the keys)",
  help: `Lists which providers the organization has keys for, the KEK id sealing each, and when it
was last set. Neither the keys nor their envelopes are shown.

Options:
  --json    print the rows as JSON`,
  run: async (ctx, args) => {
    const { ref, store, asJson } = await openOrgQuery(ctx, args, 'provider-key list')
    const rows = await store.listProviderKeys(ref)
    const shown = rows
      .map(({ id, org_id, provider, kek_id, created_at, updated_at }) => ({
        id,
        org_id,
        provider,
        kek_id,
        created_at,
        updated_at,
      }))
      .sort((a, b) => a.provider.localeCompare(b.provider))
    if (asJson) ctx.io.out(json(shown))
    else if (shown.length === 0) ctx.io.out('No provider keys.')
    else {
      ctx.io.out(
        table(
          ['PROVIDER', 'KEK', 'UPDATED', 'CREATED'],
          shown.map((p) => [p.provider, p.kek_id, p.updated_at, p.created_at]),
        ),
      )
    }
  },
}

const remove: Command = {
  name: 'remove',
  synopsis: '<org> <provider>',
  summary: "delete an organization's key for a provider",
  help: `Deletes the organization's stored key for <provider>.`,
  run: async (ctx, args) => {
    const command = 'provider-key remove'
    const { positionals, globals } = parseCommand(command, args, {}, ['<org>', '<provider>'])
    const ref = valid.orgRef(positionals[0] ?? '')
    const provider = valid.provider(positionals[1] ?? '')
    const session = await openSession(ctx, globals, command)
    if (!(await session.store.deleteProviderKey(ref, provider))) {
      throw new CliError(`organization ${ref} has no ${provider} key`)
    }
    ctx.io.out(`Removed the ${provider} key of ${ref}.`)
    await session.changed()
  },
}

const rotate: Command = {
  name: 'rotate',
  synopsis: '',
  summary: "re-wrap every provider key under the keyring's current KEK",
  help: `Re-wraps the data key of every stored provider key that is not under the keyring's current
KEK (the provider keys themselves are not re-encrypted). Each write is a compare-and-set, so a
key changed meanwhile is skipped, not overwritten; run rotate again to pick it up.

Rotating a KEK:
  1. npm run admin -- kek generate > keyring.json    (the old keys plus a new current one)
  2. give the gateway that keyring (wrangler secret put FLOOPY_VAULT_KEKS, or .dev.vars)
  3. FLOOPY_VAULT_KEKS="$(cat keyring.json)" npm run admin -- provider-key rotate
  4. once nothing is left under the old KEK, drop it from the keyring

Exits 1 if any key could not be re-wrapped (e.g. its KEK is missing from the keyring).`,
  run: async (ctx, args) => {
    const command = 'provider-key rotate'
    const { globals } = parseCommand(command, args, {}, [])
    const session = await openSession(ctx, globals, command)
    const keyring = await session.keyring(false)
    if (keyring === undefined) {
      throw new CliError('FLOOPY_VAULT_KEKS is not set (nor in .dev.vars): nothing to rotate to')
    }
    const rows = await session.store.listProviderKeys(null)
    let rewrapped = 0
    let current = 0
    let skipped = 0
    let failed = 0
    for (const row of rows) {
      const scope = { orgId: row.org_id, provider: row.provider }
      try {
        if (!needsRewrap(keyring, row.envelope)) {
          current += 1
          continue
        }
        const next = rewrapProviderKey(keyring, row.envelope, scope)
        if (await session.store.rewrapProviderKey(row.id, row.envelope, next)) rewrapped += 1
        else skipped += 1
      } catch (error) {
        if (error instanceof CliError) throw error
        failed += 1
        // Vault errors name a missing key id at most; they never carry key material.
        const reason = error instanceof Error ? error.message : 'failed'
        ctx.io.note(`cannot re-wrap the ${row.provider} key of org ${row.org_id}: ${reason}`)
      }
    }
    ctx.io.out(
      `Re-wrapped ${rewrapped} of ${rows.length} provider keys under KEK ${keyring.currentId}; ` +
        `${current} already under it, ${skipped} changed meanwhile (skipped), ${failed} failed.`,
    )
    if (rewrapped > 0) await session.changed()
    if (failed > 0) throw new CliError(`${failed} provider keys could not be re-wrapped`)
  },
}

export const providerKeyCommands: Group = {
  name: 'provider-key',
  summary: 'provider API keys (sealed by the vault): add, list, remove, rotate',
  commands: [add, list, remove, rotate],
}
