/**
 * @module A real ClickHouse engine behind ClickHouse's HTTP interface, for the test suites. The
 * engine is chDB (npm `chdb`, a devDependency: ClickHouse 26.7 embedded as a library; Debian's
 * `clickhouse-server` is from 2018, see `/work/shared/INFRA.md`, section "ClickHouse"), served on a
 * free loopback port so the production client, `@clickhouse/client-web`, works unchanged:
 *
 * - `POST /` runs a query, and so does `GET /`, read-only (`readonly = 2`, as ClickHouse sets for
 *   GET); `GET /ping` answers `Ok.` without credentials; any other path is 404.
 * - The query is the `query` URL parameter, a line break and the body (so for
 *   `INSERT … FORMAT JSONEachRow` the statement is in the URL and the rows in the body), or the
 *   body alone. A `multipart/form-data` body carries `query` and `param_*` as parts (client-web's
 *   form for long parameters); a `gzip`, `deflate` or `br` body is decompressed. Bodies are text.
 * - `database` is the current database; `default_format` the output format of a query without a
 *   `FORMAT` clause (else `TabSeparated`); `param_<name>` binds `{name:Type}`, its value in the
 *   escaped text form client-web sends; `query_id` is echoed. Every other parameter is a setting
 *   for this query only, and the engine rejects one it does not know (UNKNOWN_SETTING, 404) as
 *   ClickHouse does; `insert_deduplication_token`, `async_insert`, `wait_for_async_insert`,
 *   `date_time_input_format`, `output_format_json_quote_64bit_integers` and client-web's
 *   `enable_http_compression` are known. Answers are never compressed, which is valid whatever
 *   the client accepts. Sessions (`session_id`), roles and ClickHouse's own `compress` and
 *   `decompress` answer NOT_IMPLEMENTED.
 * - Credentials: `X-ClickHouse-User`/`X-ClickHouse-Key`, else `Authorization: Basic`, else the
 *   `user`/`password` parameters, else user `default` without a password (ClickHouse's order),
 *   checked against the one configured user: AUTHENTICATION_FAILED (516, HTTP 403) otherwise.
 * - Answers carry `X-ClickHouse-Query-Id`, `-Format`, `-Timezone` and `-Summary` (`read_rows`,
 *   `read_bytes`, `result_bytes`, `elapsed_ns`: chDB does not count rows written). Every query
 *   runs with `session_timezone = 'UTC'`, as on ClickHouse Cloud, whatever the machine's zone.
 * - An error answers ClickHouse's text (`Code: 62. DB::Exception: … (SYNTAX_ERROR) (version …)`)
 *   with `X-ClickHouse-Exception-Code` and the HTTP status ClickHouse gives that error
 *   (`src/Server/HTTP/exceptionCodeToHTTPStatus.cpp`); client-web throws it as a
 *   `ClickHouseError` with that `code` and `type`.
 *
 * Data lives in a temporary directory until `close()`. Each request gets its own connection to the
 * engine, so settings, parameters and `USE` never leak into the next request, and requests run
 * one at a time (the engine is not re-entrant). One known difference: a query holding several
 * `;`-separated statements runs them all, where ClickHouse refuses multi-statements. chDB binds
 * one data directory per process: one server per test file (vitest runs each file in its own
 * process), or close one before starting the next.
 *
 * `setDown(true)` puts the server out of reach in effect: every request's connection is destroyed
 * before any answer, so the client fails at once (`fetch failed`); `setDown(false)` undoes it.
 * `requests` counts HTTP requests, refused and reset ones included.
 *
 * `applyClickHouseMigrations(server)` runs `migrations/clickhouse/*.sql` in name order, one
 * statement at a time (split at `;` outside quotes and comments), through `server.query`.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type * as Chdb from 'chdb'
import type { ChdbResult, Session } from 'chdb'
import { listenOnLoopback } from './net.ts'

/** The one user the server accepts. */
export interface ClickHouseOptions {
  username: string
  password: string
}

/** A running server. */
export interface ClickHouseServer {
  /** `http://127.0.0.1:<port>`: what `CLICKHOUSE_URL` would be. */
  url: string
  /** HTTP requests received so far (including refused and reset ones). */
  readonly requests: number
  /** Takes the server out of reach (`true`: connections are destroyed) or back (`false`). */
  setDown(down: boolean): void
  /**
   * A second port that is never down, for tests that cannot call `setDown` (workerd tests):
   * `POST <controlUrl>/down` and `POST <controlUrl>/up`.
   */
  controlUrl: string
  /** Runs one statement on the engine directly (no HTTP, no credentials): its TabSeparated text. */
  query(sql: string): Promise<string>
  /** Stops the server, closes the engine and removes its data. */
  close(): Promise<void>
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/clickhouse/', import.meta.url))
const DEFAULT_FORMAT = 'TabSeparated'
const SERVER_TIMEZONE = 'UTC'
const DISPLAY_NAME = 'chdb'
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
/** The `(TYPE)` that ends a ClickHouse error message. */
const ERROR_TYPE = /\(([A-Z][A-Z0-9_]{2,})\)\s*$/
const VERSION_SUFFIX = /\(version [^)]*\)\s*$/
/** The output format a query names itself (`… FORMAT JSONEachRow`). */
const FORMAT_CLAUSE = /\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$/i
/** URL parameters the HTTP interface reads itself, never as settings (`HTTPHandler.cpp`). */
const RESERVED = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'user',
  'password',
  'quota_key',
  'stacktrace',
  'buffer_size',
  'wait_end_of_query',
  'session_timeout',
  'session_check',
  'close_session',
  'client_protocol_version',
])
/** Reserved parameters this server does not implement (rejected rather than ignored). */
const UNSUPPORTED = new Set(['session_id', 'role', 'compress', 'decompress'])

/** ClickHouse's HTTP status for an error type (`exceptionCodeToHTTPStatus.cpp`); else 500. */
const STATUS_BY_TYPE = new Map<string, number>(
  (
    [
      [401, ['REQUIRED_PASSWORD']],
      [
        403,
        [
          'UNKNOWN_USER',
          'WRONG_PASSWORD',
          'AUTHENTICATION_FAILED',
          'SET_NON_GRANTED_ROLE',
          'ACCESS_DENIED',
        ],
      ],
      [
        400,
        [
          'BAD_ARGUMENTS',
          'CANNOT_COMPILE_REGEXP',
          'CANNOT_PARSE_TEXT',
          'CANNOT_PARSE_ESCAPE_SEQUENCE',
          'CANNOT_PARSE_QUOTED_STRING',
          'CANNOT_PARSE_DATE',
          'CANNOT_PARSE_DATETIME',
          'CANNOT_PARSE_NUMBER',
          'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING',
          'CANNOT_PARSE_IPV4',
          'CANNOT_PARSE_IPV6',
          'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
          'CANNOT_PARSE_UUID',
          'DUPLICATE_COLUMN',
          'ILLEGAL_COLUMN',
          'UNKNOWN_ELEMENT_IN_AST',
          'UNKNOWN_TYPE_OF_AST_NODE',
          'THERE_IS_NO_COLUMN',
          'TOO_DEEP_AST',
          'TOO_BIG_AST',
          'UNEXPECTED_AST_STRUCTURE',
          'SYNTAX_ERROR',
          'INCORRECT_DATA',
          'TYPE_MISMATCH',
          'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
        ],
      ],
      [
        404,
        [
          'UNKNOWN_TABLE',
          'UNKNOWN_FUNCTION',
          'UNKNOWN_IDENTIFIER',
          'UNKNOWN_TYPE',
          'UNKNOWN_STORAGE',
          'UNKNOWN_DATABASE',
          'UNKNOWN_SETTING',
          'UNKNOWN_DIRECTION_OF_SORTING',
          'UNKNOWN_AGGREGATE_FUNCTION',
          'UNKNOWN_FORMAT',
          'UNKNOWN_DATABASE_ENGINE',
          'UNKNOWN_TYPE_OF_QUERY',
          'UNKNOWN_ROLE',
        ],
      ],
      [413, ['QUERY_IS_TOO_LARGE']],
      [501, ['NOT_IMPLEMENTED']],
      [503, ['SOCKET_TIMEOUT', 'CANNOT_OPEN_FILE', 'CANNOT_SCHEDULE_TASK']],
      [411, ['HTTP_LENGTH_REQUIRED']],
      [408, ['TIMEOUT_EXCEEDED']],
      [415, ['UNSUPPORTED_MEDIA_TYPE']],
    ] as const
  ).flatMap(([status, types]) => types.map((type): [string, number] => [type, status])),
)

/** A ClickHouse error: its code, its type and its text (without the version suffix). */
class ClickHouseFailure extends Error {
  readonly code: number
  readonly type: string

  constructor(code: number, type: string, message: string, raw = false) {
    super(raw ? message : `Code: ${code}. DB::Exception: ${message}. (${type})`)
    this.code = code
    this.type = type
  }
}

/** One query, parsed from an HTTP request. */
interface QueryRequest {
  sql: string
  /** `SET` and `USE` statements run first on the request's connection. */
  prelude: string[]
  /** The format chDB is asked for (a `FORMAT` clause in the query wins). */
  format: string
  /** The format of the answer, for `X-ClickHouse-Format`. */
  outputFormat: string
  timezone: string
}

async function loadChdb(): Promise<typeof Chdb> {
  try {
    return await import('chdb')
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(
      `chdb (the embedded ClickHouse engine) cannot be loaded: ${reason}. Install the project's ` +
        'dependencies with `npm install` (chdb is a devDependency; its engine comes in an ' +
        'optional platform package, @chdb/lib-<platform>, for Linux and macOS only)',
      { cause: error },
    )
  }
}

/** A SQL string literal (ClickHouse escapes with backslashes). */
const literal = (value: string): string =>
  `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

const identifier = (name: string): string =>
  `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``

function clickhouseCodeOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('clickhouseCode' in error)) return undefined
  return typeof error.clickhouseCode === 'number' ? error.clickhouseCode : undefined
}

/** Anything thrown while answering, as the ClickHouse error to send. */
function toFailure(error: unknown): ClickHouseFailure {
  if (error instanceof ClickHouseFailure) return error
  const message = (error instanceof Error ? error.message : String(error)).trim()
  const code = clickhouseCodeOf(error)
  const type = ERROR_TYPE.exec(message.replace(VERSION_SUFFIX, '').trim())?.[1]
  if (code !== undefined && type !== undefined) {
    return new ClickHouseFailure(code, type, message, true)
  }
  return new ClickHouseFailure(1001, 'STD_EXCEPTION', message)
}

/** Roughly ClickHouse's `Content-Type` per output format. */
function contentType(format: string): string {
  if (/^(JSON|NDJSON|PrettyJSON)/i.test(format)) return 'application/json; charset=UTF-8'
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8'
  if (/^CSV/i.test(format)) {
    return `text/csv; charset=UTF-8; header=${/WithNames/i.test(format) ? 'present' : 'absent'}`
  }
  if (/^(Native|RowBinary|Parquet|Arrow|ORC|Avro|MsgPack|BSON|Npy)/i.test(format)) {
    return 'application/octet-stream'
  }
  return 'text/plain; charset=UTF-8'
}

/** The request's credentials, read in ClickHouse's order. */
function credentialsOf(
  req: IncomingMessage,
  params: URLSearchParams,
): { user: string; password: string } {
  const user = req.headers['x-clickhouse-user']
  const key = req.headers['x-clickhouse-key']
  if (typeof user === 'string' || typeof key === 'string') {
    return {
      user: typeof user === 'string' ? user : 'default',
      password: typeof key === 'string' ? key : '',
    }
  }
  const authorization = req.headers.authorization
  if (authorization !== undefined) {
    const basic = /^Basic\s+(.+)$/i.exec(authorization)
    if (basic === null) {
      throw new ClickHouseFailure(
        516,
        'AUTHENTICATION_FAILED',
        'Only Basic authentication is supported by this server',
      )
    }
    const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon === -1
      ? { user: decoded, password: '' }
      : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }
  return { user: params.get('user') ?? 'default', password: params.get('password') ?? '' }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function decompress(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return body
    case 'gzip':
      return gunzipSync(body)
    case 'deflate':
      return inflateSync(body)
    case 'br':
      return brotliDecompressSync(body)
    default:
      throw new ClickHouseFailure(
        36,
        'BAD_ARGUMENTS',
        `Unsupported Content-Encoding: ${encoding ?? ''}`,
      )
  }
}

/** The body's text; a multipart body's fields are merged into `params` and leave no text. */
async function bodyText(
  req: IncomingMessage,
  raw: Buffer,
  params: URLSearchParams,
): Promise<string> {
  const body = decompress(raw, req.headers['content-encoding'])
  const type = req.headers['content-type'] ?? ''
  if (!/^multipart\/form-data/i.test(type)) return body.toString('utf8')
  const form = await new Response(new Uint8Array(body), {
    headers: { 'content-type': type },
  }).formData()
  for (const [name, value] of form) {
    if (typeof value !== 'string') {
      throw new ClickHouseFailure(
        48,
        'NOT_IMPLEMENTED',
        `External data (part ${name}) is not supported`,
      )
    }
    params.set(name, value)
  }
  return ''
}

/** Turns the URL parameters and the body into the query, its prelude and its format. */
function parseQuery(params: URLSearchParams, body: string, readonly: boolean): QueryRequest {
  const urlQuery = params.get('query') ?? ''
  const sql = urlQuery === '' ? body : `${urlQuery}\n${body}`
  if (sql.trim() === '') throw new ClickHouseFailure(62, 'SYNTAX_ERROR', 'Empty query')

  const assignments = [`session_timezone = ${literal(SERVER_TIMEZONE)}`]
  let timezone = SERVER_TIMEZONE
  for (const [name, value] of params) {
    if (RESERVED.has(name)) continue
    if (UNSUPPORTED.has(name)) {
      if (value === '' || value === '0') continue
      throw new ClickHouseFailure(48, 'NOT_IMPLEMENTED', `Parameter ${name} is not supported`)
    }
    if (name.startsWith('param_')) {
      if (!IDENTIFIER.test(name.slice('param_'.length))) {
        throw new ClickHouseFailure(36, 'BAD_ARGUMENTS', `Invalid query parameter name: ${name}`)
      }
    } else if (!IDENTIFIER.test(name)) {
      throw new ClickHouseFailure(115, 'UNKNOWN_SETTING', `Unknown setting '${name}'`)
    }
    // `SET param_x = '…'` binds {x:Type} from the same escaped text the HTTP parameter holds.
    assignments.push(`${name} = ${literal(value)}`)
    if (name === 'session_timezone') timezone = value
  }
  const prelude = [
    ...(readonly ? ['SET readonly = 2'] : []),
    `SET ${assignments.join(', ')}`,
    ...(params.get('database') ? [`USE ${identifier(params.get('database') ?? '')}`] : []),
  ]
  const format = params.get('default_format') || DEFAULT_FORMAT
  const named = /^\s*INSERT\b/i.test(sql) ? undefined : FORMAT_CLAUSE.exec(sql.trim())?.[1]
  return { sql, prelude, format, outputFormat: named ?? format, timezone }
}

/** Splits a SQL script at each `;` outside quotes and comments; drops comments and blanks. */
export function splitStatements(script: string): string[] {
  const statements: string[] = []
  let current = ''
  let i = 0
  const closing = (start: number): number => {
    const quote = script.charAt(start)
    let j = start + 1
    while (j < script.length) {
      const char = script.charAt(j)
      if (char === '\\') j += 2
      else if (char === quote && script.charAt(j + 1) === quote) j += 2
      else if (char === quote) return j
      else j += 1
    }
    throw new Error(`unterminated ${quote} at offset ${start}`)
  }
  while (i < script.length) {
    const char = script.charAt(i)
    const pair = script.slice(i, i + 2)
    if (pair === '--') {
      const end = script.indexOf('\n', i)
      i = end === -1 ? script.length : end
    } else if (pair === '/*') {
      const end = script.indexOf('*/', i + 2)
      if (end === -1) throw new Error(`unterminated comment at offset ${i}`)
      current += ' '
      i = end + 2
    } else if (char === "'" || char === '"' || char === '`') {
      const end = closing(i)
      current += script.slice(i, end + 1)
      i = end + 1
    } else if (char === ';') {
      statements.push(current)
      current = ''
      i += 1
    } else {
      current += char
      i += 1
    }
  }
  statements.push(current)
  return statements.map((statement) => statement.trim()).filter((statement) => statement !== '')
}

/** Starts the engine in a fresh data directory and serves it on a free loopback port. */
export async function startClickHouse(options: ClickHouseOptions): Promise<ClickHouseServer> {
  const chdb = await loadChdb()
  const dataDir = await mkdtemp(join(tmpdir(), 'floopy-clickhouse-'))
  let engine: Session
  try {
    // Held open for the server's lifetime: the per-request connections share its engine.
    engine = new chdb.Session(dataDir)
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true })
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`chDB cannot open ${dataDir} (one engine per process): ${reason}`, {
      cause: error,
    })
  }

  let tail: Promise<unknown> = Promise.resolve()
  /** Runs `sql` after `prelude` on a connection of its own, after every earlier query. */
  const run = (prelude: string[], sql: string, format: string): Promise<ChdbResult> => {
    const task = async (): Promise<ChdbResult> => {
      const connection = new chdb.Session(dataDir)
      try {
        for (const statement of prelude) await connection.queryAsync(statement)
        return await connection.queryAsync(sql, { format })
      } finally {
        connection.close()
      }
    }
    const result = tail.then(task, task)
    tail = result.catch(() => undefined)
    return result
  }

  let version: string
  try {
    version = (await run([], 'SELECT version()', DEFAULT_FORMAT)).text().trim()
  } catch (error) {
    engine.close()
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }

  const authenticate = (req: IncomingMessage, params: URLSearchParams): void => {
    const { user, password } = credentialsOf(req, params)
    if (user !== options.username || password !== options.password) {
      throw new ClickHouseFailure(
        516,
        'AUTHENTICATION_FAILED',
        `${user}: Authentication failed: password is incorrect, ` +
          'or there is no user with such name.',
      )
    }
  }

  const send = (
    res: ServerResponse,
    status: number,
    body: Uint8Array | string,
    headers: Record<string, string>,
  ): void => {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)
    res.writeHead(status, { ...headers, 'content-length': bytes.byteLength })
    res.end(bytes)
  }

  const sendFailure = (res: ServerResponse, failure: ClickHouseFailure, queryId: string): void => {
    const text = VERSION_SUFFIX.test(failure.message)
      ? failure.message
      : `${failure.message} (version ${version})`
    send(res, STATUS_BY_TYPE.get(failure.type) ?? 500, `${text}\n`, {
      'content-type': 'text/plain; charset=UTF-8',
      'x-clickhouse-exception-code': String(failure.code),
      'x-clickhouse-query-id': queryId,
      'x-clickhouse-server-display-name': DISPLAY_NAME,
    })
  }

  let requests = 0
  let down = false
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests += 1
    if (down) {
      req.socket.destroy()
      return
    }
    const raw = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://clickhouse')
    const method = req.method ?? 'GET'
    const readonly = method === 'GET' || method === 'HEAD'
    const queryId = url.searchParams.get('query_id') || randomUUID()
    if (url.pathname === '/ping' && readonly) {
      send(res, 200, 'Ok.\n', { 'content-type': 'text/html; charset=UTF-8' })
      return
    }
    if (url.pathname !== '/') {
      send(res, 404, `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`, {
        'content-type': 'text/plain; charset=UTF-8',
      })
      return
    }
    try {
      const params = new URLSearchParams(url.searchParams)
      authenticate(req, params)
      const request = parseQuery(params, await bodyText(req, raw, params), readonly)
      const result = await run(request.prelude, request.sql, request.format)
      const bytes = result.bytes()
      send(res, 200, bytes, {
        'content-type': contentType(request.outputFormat),
        'x-clickhouse-query-id': queryId,
        'x-clickhouse-format': request.outputFormat,
        'x-clickhouse-timezone': request.timezone,
        'x-clickhouse-server-display-name': DISPLAY_NAME,
        'x-clickhouse-summary': JSON.stringify({
          read_rows: String(result.rowsRead),
          read_bytes: String(result.bytesRead),
          result_bytes: String(bytes.byteLength),
          elapsed_ns: String(Math.round(result.elapsed * 1e9)),
        }),
      })
    } catch (error) {
      sendFailure(res, toFailure(error), queryId)
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy()
      else sendFailure(res, toFailure(error), randomUUID())
    })
  })
  let port: number
  try {
    port = await listenOnLoopback(server)
  } catch (error) {
    engine.close()
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }

  const control = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://control').pathname
    if (req.method === 'POST' && (path === '/down' || path === '/up')) {
      down = path === '/down'
      res.writeHead(204).end()
    } else {
      res.writeHead(404).end()
    }
  })
  const controlPort = await listenOnLoopback(control)

  let closed = false
  return {
    url: `http://127.0.0.1:${port}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    get requests() {
      return requests
    },
    setDown(value) {
      down = value
    },
    async query(sql) {
      const result = await run(
        [`SET session_timezone = ${literal(SERVER_TIMEZONE)}`],
        sql,
        'TabSeparated',
      )
      return result.text()
    },
    async close() {
      if (closed) return
      closed = true
      control.closeAllConnections()
      control.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
      await tail
      engine.close()
      await chdb.drainPending()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Runs `migrations/clickhouse/*.sql` in name order, statement by statement; the files run. */
export async function applyClickHouseMigrations(
  server: Pick<ClickHouseServer, 'query'>,
): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort()
  for (const file of files) {
    const statements = splitStatements(await readFile(join(MIGRATIONS_DIR, file), 'utf8'))
    for (const [index, statement] of statements.entries()) {
      try {
        await server.query(statement)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        throw new Error(`migration ${file}, statement ${index + 1}, failed: ${reason}`, {
          cause: error,
        })
      }
    }
  }
  return files
}
