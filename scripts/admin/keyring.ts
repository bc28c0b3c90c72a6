/**
 * @module Where the CLI finds the vault keyring (`FLOOPY_VAULT_KEKS`, see `src/security/vault.ts`)
 * and how it makes one.
 *
 * The environment comes first. For the local store `.dev.vars` at the root comes next: that is
 * where `npm run dev` gives the gateway its keyring. When neither has one and a provider key is to
 * be sealed locally, a fresh keyring is appended to `.dev.vars` (mode 0600). For Supabase nothing is
 * generated: the gateway's keyring is a Worker secret the CLI cannot see, so the operator exports
 * the same value.
 *
 * `.dev.vars` is read the way `scripts/dev.ts` reads it. The keyring is written single-quoted:
 * wrangler's dotenv parser strips the quotes but turns no `\"` back into `"`, so the JSON quoting
 * `dev.ts` uses for plain keys would reach the Worker as invalid JSON; single quotes are taken
 * literally by both parsers.
 */
import { randomBytes } from 'node:crypto'
import { appendFile, chmod, readFile } from 'node:fs/promises'
import { parseKeyring, type Keyring } from '../../src/security/vault.ts'
import { CliError } from './cli.ts'

export const KEYRING_VAR = 'FLOOPY_VAULT_KEKS'
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

/** `.dev.vars` and env files: `NAME=value` lines, one pair of outer quotes removed. */
export const parseEnvFile = (text: string): Map<string, string> => {
  const vars = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (match?.[1] !== undefined && match[2] !== undefined) {
      vars.set(match[1], match[2].replace(/^(['"])(.*)\1$/, '$2'))
    }
  }
  return vars
}

const readDevVars = async (devVarsPath: string): Promise<Map<string, string>> => {
  try {
    return parseEnvFile(await readFile(devVarsPath, 'utf8'))
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return new Map()
    throw new CliError(`cannot read ${devVarsPath}`)
  }
}

/** `parseKeyring`, with its message (which never echoes key material) as a one-line CLI error. */
const parsed = (text: string, source: string): Keyring => {
  try {
    return parseKeyring(text)
  } catch (error) {
    const message = error instanceof Error ? error.message : 'invalid keyring'
    throw new CliError(`${message} (from ${source})`)
  }
}

export type KeyringSource = { text: string; source: string }

/**
 * The keyring's text and where it came from: the environment, else (`devVarsPath` given: the
 * local store) `.dev.vars`. Warns when both hold different keyrings, since `npm run dev` gives the
 * gateway the `.dev.vars` one.
 */
export const findKeyring = async (
  env: NodeJS.ProcessEnv,
  devVarsPath: string | undefined,
  warn: (text: string) => void,
): Promise<KeyringSource | undefined> => {
  const fromEnv = env[KEYRING_VAR]
  const fromFile =
    devVarsPath === undefined ? undefined : (await readDevVars(devVarsPath)).get(KEYRING_VAR)
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromFile !== undefined && fromFile !== fromEnv) {
      warn(
        `warning: ${KEYRING_VAR} in the environment differs from the one in .dev.vars; ` +
          "using the environment's, but `npm run dev` gives the gateway the .dev.vars one",
      )
    }
    return { text: fromEnv, source: `$${KEYRING_VAR}` }
  }
  if (fromFile !== undefined && fromFile !== '') return { text: fromFile, source: '.dev.vars' }
  return undefined
}

export const loadKeyring = async (
  env: NodeJS.ProcessEnv,
  devVarsPath: string | undefined,
  warn: (text: string) => void,
): Promise<Keyring | undefined> => {
  const found = await findKeyring(env, devVarsPath, warn)
  return found === undefined ? undefined : parsed(found.text, found.source)
}

/** 32 random bytes in standard base64, as `openssl rand -base64 32` prints them. */
const newKek = (): string => randomBytes(32).toString('base64')

/** The next free `k<N>` id: one past the highest numbered one. */
const nextId = (ids: readonly string[]): string => {
  const numbers = ids.map((id) => /^k(\d{1,9})$/.exec(id)?.[1]).filter((n) => n !== undefined)
  let next = Math.max(0, ...numbers.map(Number)) + 1
  while (ids.includes(`k${next}`)) next += 1
  return `k${next}`
}

/**
 * A keyring's JSON with a new KEK made current: `existing`'s keys kept (it is validated first), or
 * a fresh keyring. `id` picks the new key's id; it must not be in use.
 */
export const keyringWithNewKek = (existing: KeyringSource | undefined, id?: string): string => {
  let keys: Record<string, string> = {}
  if (existing !== undefined) {
    parsed(existing.text, existing.source)
    // Valid, so this is the { current, keys } object parseKeyring accepted.
    const json = JSON.parse(existing.text) as { keys: Record<string, string> }
    keys = { ...json.keys }
  }
  const kekId = id ?? nextId(Object.keys(keys))
  if (!KEY_ID.test(kekId)) throw new CliError('invalid --id: 1-32 characters of A-Z a-z 0-9 _ -')
  if (Object.hasOwn(keys, kekId)) throw new CliError(`invalid --id: "${kekId}" is in the keyring`)
  keys[kekId] = newKek()
  const text = JSON.stringify({ current: kekId, keys })
  parsed(text, 'the new keyring')
  return text
}

/** Appends a fresh keyring to `.dev.vars` (created 0600) and returns it. */
export const generateDevKeyring = async (devVarsPath: string): Promise<Keyring> => {
  const text = keyringWithNewKek(undefined)
  let existing = ''
  try {
    existing = await readFile(devVarsPath, 'utf8')
  } catch {
    // absent: created below
  }
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n'
  await appendFile(
    devVarsPath,
    `${separator}# Generated by npm run admin: the vault keyring that seals provider keys.\n` +
      `${KEYRING_VAR}='${text}'\n`,
    { mode: 0o600 },
  )
  await chmod(devVarsPath, 0o600)
  return parsed(text, '.dev.vars')
}
