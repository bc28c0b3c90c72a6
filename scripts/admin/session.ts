/**
 * @module One command's view of its surroundings: which store (`--store`, else Supabase when
 * `SUPABASE_URL` is set, else local), where the local files live (`--root`, else `FLOOPY_ROOT`,
 * else the repository), where the vault keyring comes from, and what to do after a change
 * (Supabase: invalidate the gateways' caches; local: remind that `npm run dev` must restart).
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Keyring } from '../../src/security/vault.ts'
import { CliError, UsageError, parseCommand, type Globals, type Io } from './cli.ts'
import type { Change } from './invalidate.ts'
import { displayPath } from './output.ts'
import { findKeyring, generateDevKeyring, KEYRING_VAR, loadKeyring } from './keyring.ts'
import { localStore } from './local-store.ts'
import type { AdminStore } from './store.ts'
import * as valid from './validate.ts'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

export type Session = {
  readonly store: AdminStore
  /** Run after every saved change (after its result is printed). */
  changed(change?: Change): Promise<void>
  /** The keyring to seal with; for the local store, generated into `.dev.vars` when `create`. */
  keyring(create: boolean): Promise<Keyring | undefined>
}

/** What a command runs with: the terminal, and the global options given before its words. */
export type Context = { readonly io: Io; readonly globals: Globals }

const present = (value: string | undefined): value is string => value !== undefined && value !== ''

export const storeKind = (
  ctx: Context,
  globals: Globals,
  command: string,
): 'local' | 'supabase' => {
  const chosen = globals.store ?? ctx.globals.store
  if (chosen === undefined) return present(ctx.io.env.SUPABASE_URL) ? 'supabase' : 'local'
  if (chosen === 'local' || chosen === 'supabase') return chosen
  throw new UsageError(`invalid --store '${chosen}': local or supabase`, command)
}

/** Where a command's local files live and which store it uses. */
export type Places = {
  kind: 'local' | 'supabase'
  /** `.dev.vars` at the root: where `npm run dev` reads the gateway's secrets. */
  devVarsPath: string
  /** `--file`, when given. */
  file: string | undefined
  root: string
}

export const places = (ctx: Context, globals: Globals, command: string): Places => {
  const kind = storeKind(ctx, globals, command)
  const rootOption = globals.root ?? ctx.globals.root ?? ctx.io.env.FLOOPY_ROOT
  const root = path.resolve(present(rootOption) ? rootOption : repoRoot)
  const file = globals.file ?? ctx.globals.file
  return { kind, root, devVarsPath: path.join(root, '.dev.vars'), file }
}

/** The keyring `kek generate` extends: no store is opened, so no store credentials are needed. */
export const keyringText = (ctx: Context, globals: Globals, command: string) => {
  const { kind, devVarsPath } = places(ctx, globals, command)
  return findKeyring(ctx.io.env, kind === 'local' ? devVarsPath : undefined, ctx.io.note)
}

/**
 * The session for a command. The Supabase and Upstash clients are imported only when the
 * Supabase store is used, so local commands start faster.
 */
export const openSession = async (
  ctx: Context,
  globals: Globals,
  command: string,
): Promise<Session> => {
  const { io } = ctx
  const env = io.env
  const { kind, root, devVarsPath, file: fileOption } = places(ctx, globals, command)

  if (kind === 'supabase') {
    if (fileOption !== undefined) {
      throw new UsageError('--file applies to the local store only', command)
    }
    const url = env.SUPABASE_URL
    const serviceKey = env.SUPABASE_SERVICE_ROLE_KEY
    if (!present(url)) throw new CliError('SUPABASE_URL is not set (needed by --store supabase)')
    if (!present(serviceKey)) throw new CliError('SUPABASE_SERVICE_ROLE_KEY is not set')
    const [{ supabaseStore }, { invalidateCaches }] = await Promise.all([
      import('./supabase-store.ts'),
      import('./invalidate.ts'),
    ])
    return {
      store: supabaseStore(url, serviceKey),
      changed: (change = {}) => invalidateCaches(env, change, io.note),
      keyring: async () => {
        const keyring = await loadKeyring(env, undefined, io.note)
        if (keyring === undefined) {
          throw new CliError(
            `${KEYRING_VAR} is not set: export the keyring the gateway has as its secret`,
          )
        }
        return keyring
      },
    }
  }

  const file = path.resolve(fileOption ?? path.join(root, '.floopy', 'tenants.json'))
  return {
    store: localStore(file),
    changed: () => {
      io.note(
        `Saved to ${displayPath(file)}; restart a running \`npm run dev\` to pick up the change.`,
      )
      return Promise.resolve()
    },
    keyring: async (create) => {
      const keyring = await loadKeyring(env, devVarsPath, io.note)
      if (keyring !== undefined || !create) return keyring
      const generated = await generateDevKeyring(devVarsPath)
      io.note(
        `Generated a vault keyring (${KEYRING_VAR}, KEK ${generated.currentId}) into ` +
          `${displayPath(devVarsPath)}; keep that file private, it decrypts the stored provider keys.`,
      )
      return generated
    },
  }
}

/** One `<group> <name>` command. */
export type Command = {
  readonly name: string
  /** The arguments after the command words, e.g. `<org> [--json]`. */
  readonly synopsis: string
  readonly summary: string
  /** What `--help` adds below the usage line: description, options, examples. */
  readonly help: string
  run(ctx: Context, args: string[]): Promise<void>
}

export type Group = {
  readonly name: string
  readonly summary: string
  readonly commands: readonly Command[]
}

/**
 * The read commands that take `<org> [--json]` (`org show`, `key list`, `provider-key list`,
 * `routing list`, `prompt list`): the organisation reference, the store, and whether JSON was
 * asked for.
 */
export const openOrgQuery = async (
  ctx: Context,
  args: string[],
  command: string,
): Promise<{ ref: string; store: AdminStore; asJson: boolean }> => {
  const { values, positionals, globals } = parseCommand(
    command,
    args,
    { json: { type: 'boolean' } },
    ['<org>'],
  )
  const ref = valid.orgRef(positionals[0] ?? '')
  const { store } = await openSession(ctx, globals, command)
  return { ref, store, asJson: values.json === true }
}
