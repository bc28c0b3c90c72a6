/**
 * @module `npm run admin -- <group> <command>`: the operator's CLI for tenants — organisations,
 * gateway API keys, sealed provider keys, vault KEKs, routing rules and prompt templates — against
 * the local store that `npm run dev` reads or against Supabase, and for purging an organisation's
 * response cache. `npm run admin -- --help` lists the commands.
 *
 * Exit codes: 0 done, 1 refused (a bad value, an unknown org, key or prompt, a store fault),
 * 2 usage error, 3 saved but the gateways' caches could not be invalidated.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import {
  CliError,
  EXIT,
  parseCommand,
  splitLeadingGlobals,
  UsageError,
  wantsHelp,
  type Io,
} from './admin/cli.ts'
import { cacheCommands } from './admin/commands/cache.ts'
import { feedbackCommands } from './admin/commands/feedback.ts'
import { kekCommands } from './admin/commands/kek.ts'
import { keyCommands } from './admin/commands/key.ts'
import { orgCommands } from './admin/commands/org.ts'
import { promptCommands } from './admin/commands/prompt.ts'
import { providerKeyCommands } from './admin/commands/provider-key.ts'
import { routingCommands } from './admin/commands/routing.ts'
import type { Context, Group } from './admin/session.ts'

const PROGRAM = 'npm run admin --'
const GROUPS: readonly Group[] = [
  orgCommands,
  keyCommands,
  providerKeyCommands,
  kekCommands,
  routingCommands,
  promptCommands,
  cacheCommands,
  feedbackCommands,
]

const GLOBAL_HELP = `Global options (before or after the command):
  --store local|supabase   the tenant store (default: supabase when SUPABASE_URL is set,
                           else local)
  --file PATH              the local store's file (default: <root>/.floopy/tenants.json)
  --root DIR               where .dev.vars and .floopy/ live (default: $FLOOPY_ROOT, else the
                           repository)
  -h, --help               help for the program, a group or a command`

const topHelp = (): string => `Usage: ${PROGRAM} <group> <command> [arguments] [options]

Manages the gateway's tenants: organizations, API keys, provider keys, KEKs, routing rules,
prompts; purges an organization's response cache.

Commands:
${GROUPS.flatMap((g) => g.commands.map((c) => `  ${`${g.name} ${c.name}`.padEnd(22)} ${c.summary}`)).join('\n')}

${GLOBAL_HELP}

Environment:
  SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY             the Supabase store
  UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN    invalidate gateway caches after a
                                                      Supabase change; cache purge
  QDRANT_URL, QDRANT_API_KEY                          cache purge (the semantic tier)
  FLOOPY_VAULT_KEKS                                   the vault keyring (provider keys)
  FLOOPY_ROOT                                         as --root

Exit codes: 0 done; 1 refused (bad value, unknown org, key or prompt, store fault);
2 usage error; 3 the change is saved but gateway caches could not be invalidated.

Run '${PROGRAM} <group> --help' or '${PROGRAM} <group> <command> --help' for details.`

const groupHelp = (group: Group): string => `Usage: ${PROGRAM} ${group.name} <command> ...

${group.summary[0]?.toUpperCase() ?? ''}${group.summary.slice(1)}.

Commands:
${group.commands.map((c) => `  ${group.name} ${c.name} ${c.synopsis}\n      ${c.summary}`).join('\n')}

Run '${PROGRAM} ${group.name} <command> --help' for a command's options.`

const run = async (argv: readonly string[], io: Io): Promise<void> => {
  const [leading, rest] = splitLeadingGlobals(argv)
  const { globals } = parseCommand('', leading, {}, [])
  const ctx: Context = { io, globals }
  const [groupName, commandName, ...args] = rest
  if (groupName === undefined) {
    if (!wantsHelp(leading)) throw new UsageError('missing command', '')
    io.out(topHelp())
    return
  }
  const group = GROUPS.find((g) => g.name === groupName)
  if (group === undefined) throw new UsageError(`unknown command '${groupName}'`, '')
  if (commandName === undefined || commandName === '--help' || commandName === '-h') {
    if (commandName === undefined && !wantsHelp(leading)) {
      throw new UsageError(`missing ${group.name} command`, group.name)
    }
    io.out(groupHelp(group))
    return
  }
  const command = group.commands.find((c) => c.name === commandName)
  if (command === undefined) {
    throw new UsageError(`unknown command '${group.name} ${commandName}'`, group.name)
  }
  const full = `${group.name} ${command.name}`
  if (wantsHelp(leading) || wantsHelp(args)) {
    io.out(`Usage: ${PROGRAM} ${full} ${command.synopsis}\n\n${command.help}\n\n${GLOBAL_HELP}`)
    return
  }
  await command.run(ctx, args)
}

/** Reads all of stdin; on a terminal, prompts on stderr and reads one line without echo. */
const readSecret = async (prompt: string): Promise<string> => {
  if (process.stdin.isTTY) {
    const muted = new Writable({
      write: (_chunk, _encoding, done) => {
        done()
      },
    })
    const rl = createInterface({ input: process.stdin, output: muted, terminal: true })
    process.stderr.write(prompt)
    try {
      return await new Promise<string>((resolve, reject) => {
        rl.once('line', resolve)
        rl.once('SIGINT', () => {
          reject(new CliError('cancelled', 130))
        })
        rl.once('close', () => {
          resolve('')
        })
      })
    } finally {
      rl.close()
      process.stderr.write('\n')
    }
  }
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const processIo: Io = {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  note: (text) => process.stderr.write(`${text}\n`),
  readSecret,
}

/** Prints an error as one line (a stack only for the unexpected, and only with FLOOPY_DEBUG). */
const report = (error: unknown): number => {
  if (error instanceof UsageError) {
    const help = error.command === '' ? '--help' : `${error.command} --help`
    processIo.note(`error: ${error.message} (see '${PROGRAM} ${help}')`)
    return error.exitCode
  }
  if (error instanceof CliError) {
    processIo.note(`error: ${error.message}`)
    return error.exitCode
  }
  const message = error instanceof Error ? error.message.split('\n', 1)[0] : String(error)
  processIo.note(`error: unexpected failure: ${message ?? ''}`)
  if (process.env.FLOOPY_DEBUG !== undefined && error instanceof Error) {
    processIo.note(error.stack ?? '')
  }
  return EXIT.refused
}

const main = async (): Promise<void> => {
  let code: number = EXIT.ok
  try {
    await run(process.argv.slice(2), processIo)
  } catch (error) {
    code = report(error)
  }
  // Exit explicitly (HTTP clients may hold sockets open), once stdout and stderr are flushed.
  process.stdout.write('', () => {
    process.stderr.write('', () => {
      process.exit(code)
    })
  })
}

void main()
