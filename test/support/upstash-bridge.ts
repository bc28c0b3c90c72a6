/**
 * @module A thin Upstash REST bridge in front of a real Redis, so `@upstash/redis` and
 * `@upstash/ratelimit` run unmodified in tests. It speaks the protocol as `@upstash/redis` 1.39
 * does (see `/work/shared/INFRA.md`, section "Redis"):
 *
 * - `POST /` with one command (`["set","k","v"]`) → `{"result": …}`;
 * - `POST /pipeline` with `[["set","a","1"],["incr","a"]]` → `[{"result":…},{"error":"…"}]`;
 * - `POST /multi-exec`: the same, run inside `MULTI`/`EXEC`;
 * - `Authorization: Bearer <token>` is required (401 `{"error":"Unauthorized"}`);
 * - with `Upstash-Encoding: base64` every string in a result is base64 (numbers and null as is);
 * - command errors answer 400 `{"error":"ERR …"}`; arguments are stringified before Redis sees them.
 *
 * `@upstash/ratelimit` scripts start with `#!lua flags=allow-key-locking`, a flag open-source Redis
 * rejects. The bridge strips it from `EVAL`/`SCRIPT LOAD` scripts and maps the SHA1 of the original
 * script (the one the client computes and sends to `EVALSHA`) to the SHA1 of the stripped one.
 *
 * `requests` counts HTTP requests, so tests can prove how many round trips a code path makes.
 */
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Command, Pipeline, Redis } from 'ioredis'
import { listenOnLoopback } from './net.ts'

/** Options of {@link startUpstashBridge}. */
export interface UpstashBridgeOptions {
  /** `redis://host:port` of the Redis behind the bridge. */
  redisUrl: string
  /** The bearer token clients must send. */
  token: string
}

/** A running bridge. */
export interface UpstashBridge {
  /** `http://127.0.0.1:<port>`: the `url` for `new Redis({ url, token })`. */
  url: string
  /** HTTP requests received so far (including rejected ones). */
  readonly requests: number
  /** The command names of each accepted request, in arrival order (e.g. `[['EVAL','EVALSHA']]`). */
  readonly history: readonly (readonly string[])[]
  /**
   * While down, every request's connection is destroyed before an answer — what a client sees
   * when Upstash is unreachable (a network error, not an HTTP status).
   */
  setDown(down: boolean): void
  close(): Promise<void>
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Entry = { result: Json } | { error: string }

const SHEBANG = /^#!lua([^\n]*)/
const LOCKING_FLAG = 'allow-key-locking'

/**
 * A command whose reply reaches the bridge untouched: Buffers and arrays exactly as Redis sent
 * them, without ioredis's reply transformers (which would turn `HGETALL` into an object).
 */
class RawCommand extends Command {
  override transformReply(result: Buffer | Buffer[]): Buffer | Buffer[] {
    return result
  }
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex')
}

/** Removes `allow-key-locking` from a script's shebang flags; other flags stay. */
export function stripLockingFlag(script: string): string {
  return script.replace(SHEBANG, (_line, rest: string) => {
    const match = /flags=(\S*)/.exec(rest)
    if (match === null) return `#!lua${rest}`
    const flags = (match[1] ?? '').split(',').filter((flag) => flag !== '' && flag !== LOCKING_FLAG)
    const kept = flags.length > 0 ? `flags=${flags.join(',')}` : ''
    return `#!lua${rest.replace(match[0], kept).trimEnd()}`
  })
}

function stringify(arg: Json): string {
  return typeof arg === 'string' ? arg : typeof arg === 'object' ? JSON.stringify(arg) : String(arg)
}

/** Converts a Redis reply (Buffers from `callBuffer`) into its Upstash JSON form. */
function encode(value: unknown, base64: boolean): Json {
  if (value === null || value === undefined) return null
  if (Buffer.isBuffer(value)) return base64 ? value.toString('base64') : value.toString('utf8')
  if (typeof value === 'string') return base64 ? Buffer.from(value).toString('base64') : value
  if (typeof value === 'number' || typeof value === 'boolean') return value
  if (Array.isArray(value)) return value.map((item) => encode(item, base64))
  if (value instanceof Error) return value.message
  return stringify(JSON.parse(JSON.stringify(value)) as Json)
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return /^[A-Z]+ /.test(message) ? message : `ERR ${message}`
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

function asCommand(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error('ERR invalid command')
  return (value as Json[]).map(stringify)
}

/** Starts the bridge on a free loopback port, connected to `redisUrl`. */
export async function startUpstashBridge(options: UpstashBridgeOptions): Promise<UpstashBridge> {
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {
    // connection errors surface on the commands themselves
  })
  await redis.connect()
  /** SHA1 of a script as the client sent it → SHA1 of the script Redis has loaded. */
  const shaMap = new Map<string, string>()

  /** Rewrites script commands for open-source Redis; returns the command to send. */
  const rewrite = (command: string[]): string[] => {
    const [name = '', ...args] = command
    const upper = name.toUpperCase()
    const scriptIndex =
      upper === 'EVAL' || upper === 'EVAL_RO'
        ? 0
        : upper === 'SCRIPT' && (args[0] ?? '').toUpperCase() === 'LOAD'
          ? 1
          : -1
    const script = args[scriptIndex]
    if (script !== undefined) {
      const stripped = stripLockingFlag(script)
      shaMap.set(sha1(script), sha1(stripped))
      args[scriptIndex] = stripped
      return [name, ...args]
    }
    if (upper === 'EVALSHA' || upper === 'EVALSHA_RO') {
      const sha = (args[0] ?? '').toLowerCase()
      args[0] = shaMap.get(sha) ?? sha
    }
    return [name, ...args]
  }

  /** `SCRIPT LOAD` answers with the SHA of the script the client sent, as Upstash does. */
  const scriptLoadSha = (command: string[]): string | undefined =>
    (command[0] ?? '').toUpperCase() === 'SCRIPT' && (command[1] ?? '').toUpperCase() === 'LOAD'
      ? sha1(command[2] ?? '')
      : undefined

  const run = async (command: string[]): Promise<unknown> => {
    const [name = '', ...args] = rewrite(command)
    const reply: unknown = await redis.sendCommand(new RawCommand(name, args))
    return scriptLoadSha(command) ?? reply
  }

  const pipeline = async (commands: string[][], base64: boolean): Promise<Entry[]> => {
    const settled = await Promise.allSettled(commands.map(run))
    return settled.map((outcome) =>
      outcome.status === 'fulfilled'
        ? { result: encode(outcome.value, base64) }
        : { error: errorMessage(outcome.reason) },
    )
  }

  const multiExec = async (commands: string[][], base64: boolean): Promise<Entry[]> => {
    const multi = redis.multi()
    if (!(multi instanceof Pipeline)) throw new Error('ERR MULTI is not available')
    for (const command of commands) {
      const [name = '', ...args] = rewrite(command)
      multi.sendCommand(new RawCommand(name, args))
    }
    const replies = await multi.exec()
    if (replies === null) throw new Error('ERR transaction aborted')
    return replies.map(([error, reply], index) => {
      if (error !== null) return { error: errorMessage(error) }
      const command = commands[index] ?? []
      return { result: encode(scriptLoadSha(command) ?? reply, base64) }
    })
  }

  let requests = 0
  let down = false
  const history: string[][] = []
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests += 1
    if (down) {
      req.socket.destroy()
      return
    }
    const body = await readBody(req)
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      send(res, 401, { error: 'Unauthorized' })
      return
    }
    if (req.method !== 'POST') {
      send(res, 405, { error: 'ERR only POST is supported' })
      return
    }
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'
    const path = new URL(req.url ?? '/', 'http://bridge').pathname.replace(/\/+$/, '')
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      send(res, 400, { error: 'ERR invalid JSON body' })
      return
    }
    try {
      if (path === '') {
        const command = asCommand(parsed)
        history.push([(command[0] ?? '').toUpperCase()])
        send(res, 200, { result: encode(await run(command), base64) })
      } else if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(parsed)) throw new Error('ERR expected an array of commands')
        const commands = parsed.map(asCommand)
        history.push(commands.map((command) => (command[0] ?? '').toUpperCase()))
        const entries =
          path === '/pipeline'
            ? await pipeline(commands, base64)
            : await multiExec(commands, base64)
        send(res, 200, entries)
      } else {
        send(res, 404, { error: `ERR unknown path ${path}` })
      }
    } catch (error) {
      send(res, 400, { error: errorMessage(error) })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: errorMessage(error) })
      else res.destroy()
    })
  })
  const port = await listenOnLoopback(server)

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests
    },
    history,
    setDown(value) {
      down = value
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
      await redis.quit().catch(() => {
        redis.disconnect()
      })
    },
  }
}
