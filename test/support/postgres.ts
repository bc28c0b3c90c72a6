/**
 * @module A throwaway PostgreSQL for the test suites: the machine's newest
 * `/usr/lib/postgresql/<version>/bin`, a fresh cluster in a temporary directory (trust
 * authentication, superuser `postgres`), listening on a free loopback port with its Unix socket in
 * that directory. Durability is off (`fsync`, `synchronous_commit`, `full_page_writes`): the data
 * dies with the directory anyway. Ready once it accepts a connection; `close()` asks for a fast
 * shutdown and removes the directory. Should the test process die first, a detached watchdog
 * (`sh`, polling the process once a second) stops the server and removes the directory.
 *
 * PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user and
 * `initdb` and the server run through `runuser -u postgres --`. Install the server with
 * `apt-get update && apt-get install -y postgresql`.
 *
 * `applyMigrations(url)` runs every `migrations/postgres/*.sql`, each in its own transaction.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Client } from 'pg'
import { freePort } from './net.ts'

/** A running PostgreSQL cluster. */
export interface PostgresServer {
  port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, no password) */
  url: string
  /** Fast shutdown (open sessions are ended), then removes the cluster's directory. */
  close(): Promise<void>
}

const INSTALL = 'apt-get update && apt-get install -y postgresql'
const INSTALL_ROOT = '/usr/lib/postgresql'
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/postgres/', import.meta.url))
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000
/** Server settings: loopback only, and no durability (every cluster is thrown away). */
const SETTINGS = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '50',
}

const run = promisify(execFile)

/** The `bin` directory of the newest installed major version that has `initdb` and `postgres`. */
async function findPostgresBin(): Promise<string | undefined> {
  const versions = await readdir(INSTALL_ROOT).catch(() => [])
  return versions
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(INSTALL_ROOT, version, 'bin'))
    .find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')))
}

/** Connects once and runs `select 1`; resolves false while the server is not accepting yet. */
async function accepts(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  client.on('error', () => {
    // a failed probe is answered by the rejected promise below
  })
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** The postmaster's pid: the first line of `postmaster.pid`, once the server has written it. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** Starts a fresh PostgreSQL cluster on a free loopback port and waits until it accepts. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = await findPostgresBin()
  if (bin === undefined) {
    throw new Error(
      `PostgreSQL is not installed under ${INSTALL_ROOT}; install it with \`${INSTALL}\``,
    )
  }
  const asRoot = process.getuid?.() === 0
  /** Runs a PostgreSQL binary as the `postgres` user under root, as the current user otherwise. */
  const command = (name: string, args: string[]): [string, string[]] =>
    asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, name), ...args]]
      : [join(bin, name), args]

  const dir = await mkdtemp(join(tmpdir(), 'floopy-pg-'))
  const dataDir = join(dir, 'data')
  try {
    if (asRoot) {
      await run('chown', ['postgres:postgres', dir]).catch((error: unknown) => {
        throw new Error('running as root, but the directory cannot be given to a `postgres` user', {
          cause: error,
        })
      })
    }
    const initdbArgs = ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8']
    const [initdb, args] = command('initdb', [...initdbArgs, '--locale=C', '--no-sync'])
    await run(initdb, args).catch((error: unknown) => {
      const output = error instanceof Error && 'stderr' in error ? String(error.stderr) : ''
      throw new Error(`initdb failed in ${dataDir}:\n${output}`, { cause: error })
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }

  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const settings = Object.entries({ ...SETTINGS, port: String(port), unix_socket_directories: dir })
  const [postgres, args] = command('postgres', [
    '-D',
    dataDir,
    ...settings.flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ])
  const child = spawn(postgres, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4000)
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  // A server whose close() was forgotten must not keep the test process alive (the watchdog below
  // then stops it); close() itself waits on a timer, which keeps the process up until then.
  child.unref()
  for (const stream of [child.stdout, child.stderr]) if (stream instanceof Socket) stream.unref()
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve()
    }),
  )
  let spawnError: Error | undefined
  child.once('error', (error) => (spawnError = error))
  const running = (): boolean => child.exitCode === null && child.signalCode === null

  /** Signals the postmaster itself: under `runuser` the child is `runuser`, not the server. */
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    const pid = (await postmasterPid(dataDir)) ?? child.pid
    try {
      if (pid !== undefined) process.kill(pid, name)
    } catch {
      // already gone
    }
  }

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (!(await accepts(url))) {
    if (spawnError !== undefined || !running() || Date.now() > deadline) {
      await signal('SIGKILL')
      child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
      const reason = spawnError?.message ?? `exit code ${String(child.exitCode)}`
      throw new Error(`PostgreSQL did not become ready on port ${port} (${reason}):\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  // If this process dies without close() (a crash, a killed test worker, a failed hook), a
  // detached watchdog stops the server (SIGQUIT: immediate shutdown) and removes the directory.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -QUIT "$2" 2>/dev/null; rm -rf "$3"',
      'postgres-watchdog',
      String(process.pid),
      String((await postmasterPid(dataDir)) ?? child.pid ?? ''),
      dir,
    ],
    { detached: true, stdio: 'ignore' },
  )
  watchdog.unref()

  let closing: Promise<void> | undefined
  return {
    port,
    url,
    close() {
      closing ??= (async () => {
        watchdog.kill()
        if (running()) {
          // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, end sessions, stop.
          await signal('SIGINT')
          const timer = setTimeout(() => {
            void signal('SIGKILL').then(() => child.kill('SIGKILL'))
          }, STOP_TIMEOUT_MS)
          await exited
          clearTimeout(timer)
        }
        await rm(dir, { recursive: true, force: true })
      })()
      return closing
    },
  }
}

/**
 * Runs every `migrations/postgres/*.sql` against `url` in file-name order, each in its own
 * transaction; resolves with the names applied. Meant for a fresh database: nothing records which
 * files already ran.
 */
export async function applyMigrations(url: string): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort()
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    for (const file of files) {
      const sql = await readFile(join(MIGRATIONS_DIR, file), 'utf8')
      await client.query('begin')
      try {
        await client.query(sql)
        await client.query('commit')
      } catch (error) {
        await client.query('rollback')
        const reason = error instanceof Error ? error.message : String(error)
        throw new Error(`migration ${file} failed: ${reason}`, { cause: error })
      }
    }
  } finally {
    await client.end()
  }
  return files
}
