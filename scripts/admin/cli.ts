/**
 * @module The admin CLI's plumbing: exit codes, the errors that map onto them, terminal I/O, and
 * `node:util` `parseArgs` wrapped so every command parses the same way.
 *
 * Exit codes: 0 done; 1 the input was well-formed but refused (a bad value, an unknown organisation,
 * a store fault); 2 the command line itself is wrong (unknown command or option, missing argument);
 * 3 the change is saved but the gateways' caches could not be invalidated. An expected error prints
 * one line and no stack trace.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'

export const EXIT = { ok: 0, refused: 1, usage: 2, cachesStale: 3 } as const

/** An expected failure: printed as one line (`error: …`), never with a stack. */
export class CliError extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode: number = EXIT.refused) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** The command line is malformed; `command` names the help that explains it (`org create`). */
export class UsageError extends CliError {
  readonly command: string

  constructor(message: string, command: string) {
    super(message, EXIT.usage)
    this.name = 'UsageError'
    this.command = command
  }
}

/** What a command talks to: results on stdout, notes and warnings on stderr. */
export type Io = {
  readonly env: NodeJS.ProcessEnv
  readonly out: (text: string) => void
  readonly note: (text: string) => void
  /** The provider key for `provider-key add`: stdin, or a prompt without echo on a terminal. */
  readonly readSecret: (prompt: string) => Promise<string>
}

/** Options every command accepts, before or after the command words. */
export const GLOBAL_OPTIONS = {
  store: { type: 'string' },
  file: { type: 'string' },
  root: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig

export type Globals = { store?: string; file?: string; root?: string }

/** True when `-h`/`--help` appears before a `--` terminator. */
export const wantsHelp = (args: readonly string[]): boolean => {
  for (const arg of args) {
    if (arg === '--') return false
    if (arg === '--help' || arg === '-h') return true
  }
  return false
}

/** What `parseArgs` returns for options `O` (under `strict`, every value has its declared type). */
export type OptionValues<O extends ParseArgsOptionsConfig> = {
  [K in keyof O]?: O[K] extends { multiple: true }
    ? string[]
    : O[K] extends { type: 'boolean' }
      ? boolean
      : string
}

/**
 * Parses one command's arguments strictly: its own options plus the global ones, exactly the
 * named positionals. Every problem is a `UsageError` pointing at `command`'s help.
 */
export const parseCommand = <const O extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  options: O,
  positionalNames: readonly string[],
) => {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { ...options, ...GLOBAL_OPTIONS },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), command)
  }
  const { positionals } = parsed
  // parseArgs' own result type does not survive the generic `O`; strict parsing guarantees this.
  const values = parsed.values as OptionValues<O>
  const given = parsed.values as OptionValues<typeof GLOBAL_OPTIONS>
  if (positionals.length < positionalNames.length) {
    throw new UsageError(`missing ${positionalNames[positionals.length] ?? 'argument'}`, command)
  }
  const extra = positionals[positionalNames.length]
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, command)
  const globals: Globals = {}
  if (given.store !== undefined) globals.store = given.store
  if (given.file !== undefined) globals.file = given.file
  if (given.root !== undefined) globals.root = given.root
  return { values, positionals, globals }
}

/** `parseArgs` messages go on with advice about `--`; the first sentence is the useful part. */
const parseArgsMessage = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const first = /^.*?\.(?=\s|$)/.exec(message)?.[0] ?? message
  return first.replace(/\.$/, '').replace(/^\w/, (c) => c.toLowerCase())
}

/** Options that take a value, among the global ones (to skip them before the command words). */
const GLOBAL_WITH_VALUE = new Set(['--store', '--file', '--root'])

/**
 * Splits `[globals…] group command rest…` into the leading global options and the rest, so that
 * `admin --store local org list` works as well as `admin org list --store local`.
 */
export const splitLeadingGlobals = (argv: readonly string[]): [string[], string[]] => {
  let i = 0
  while (i < argv.length) {
    const arg = argv[i] ?? ''
    const name = arg.split('=', 1)[0] ?? ''
    if (GLOBAL_WITH_VALUE.has(name)) i += arg.includes('=') ? 1 : 2
    else if (arg === '--help' || arg === '-h') i += 1
    else break
  }
  return [argv.slice(0, i), argv.slice(i)]
}

/** Requires that at least one of `values`' keys in `names` is set (a `set` with nothing to set). */
export const requireSome = (
  command: string,
  values: Record<string, unknown>,
  names: readonly string[],
): void => {
  if (names.some((name) => values[name] !== undefined)) return
  throw new UsageError(`nothing to change: give ${names.map((n) => `--${n}`).join(', ')}`, command)
}
