/**
 * @module A thin PostgREST stand-in in front of a real PostgreSQL, so `@supabase/supabase-js`
 * calls `rpc()` unmodified in tests (PostgREST itself is not installable here; see
 * `/work/shared/INFRA.md`, section "Postgres"). It serves the RPC protocol only, as PostgREST 12
 * does and as supabase-js 2 speaks it:
 *
 * - `POST /rest/v1/rpc/<fn>` with a JSON object of named arguments (`GET`/`HEAD` with them in the
 *   query string, run in a read-only transaction) → 200 and the function's result as JSON, `null`
 *   for SQL null;
 * - arguments bind as PostgREST binds them: `json_to_record($1)` typed with the function's own
 *   parameter types, then a named-notation call, so `"12"` and `12` both reach an `integer`, an
 *   object reaches a `jsonb`, and a bad value fails in PostgreSQL (22P02, HTTP 400);
 * - the function is looked up in `pg_proc` (schema `public`) by name and argument names: no
 *   match, or an argument the function does not have → 404 `PGRST202`;
 * - `apikey` must be the service-role or the anon key and `Authorization: Bearer` the same key,
 *   else 401; the call runs inside a transaction as `service_role` or `anon` (`set_config('role',
 *   …, true)`, as PostgREST does), so grants and row level security are really exercised;
 * - errors are PostgREST's `{code, message, details, hint}` with its status mapping
 *   (`mapSQLtoHTTP` in PostgREST's `Error.hs`): P0001, 22xxx, 23514 and anything unlisted → 400,
 *   23503/23505 → 409, 42501 → 403 (401 for anon), 42883 → 404, other P0xxx and XX → 500,
 *   `PTnnn` → nnn; and `raise sqlstate 'PGRST'` with a JSON message and detail takes over the
 *   code, message and status (how `migrations/postgres` answers "not found" with a 404);
 * - a `Content-Profile`/`Accept-Profile` other than `public` → 406 `PGRST106`; any other path →
 *   404 `PGRST125`.
 *
 * `setDown(true)` simulates the database being out of reach. By default (`'reset'`) every
 * request's connection is destroyed before any response, which is what a client sees when the
 * Supabase API cannot be reached: supabase-js then resolves `{ error }` with status 0 and a
 * `TypeError: fetch failed` message (it never retries a POST; it retries a GET three times, 1 s,
 * 2 s and 4 s apart). `'unavailable'` answers what PostgREST itself answers while its database is
 * down: 503 `PGRST000`.
 *
 * `requests` counts HTTP requests, so tests can prove how many round trips a code path makes.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { DatabaseError, Pool } from 'pg'
import type { PoolClient } from 'pg'
import { isObject } from './json.ts'
import type { JsonObject } from './json.ts'
import { listenOnLoopback } from './net.ts'

/** Options of {@link startPostgrestBridge}. */
export interface PostgrestBridgeOptions {
  /** `postgres://…` of a role allowed to `SET ROLE` to `service_role` and `anon`. */
  databaseUrl: string
  /** The key that runs calls as `service_role`. */
  serviceRoleKey: string
  /** The key that runs calls as `anon`. */
  anonKey: string
}

/** How a bridge that is down answers; see the module doc. */
export type PostgrestFault = 'reset' | 'unavailable'

/** A running bridge. */
export interface PostgrestBridge {
  /** `http://127.0.0.1:<port>`: what `SUPABASE_URL` would be. */
  url: string
  /** HTTP requests received so far (including rejected and reset ones). */
  readonly requests: number
  /** Takes the database out of reach (`true` means `'reset'`), or back (`false`). */
  setDown(down: boolean | PostgrestFault): void
  close(): Promise<void>
}

type Role = 'service_role' | 'anon'

/** PostgREST's error body. */
interface PgrstError {
  code: string
  message: string
  details: string | null
  hint: string | null
}

/** An error answered as `status` with a PostgREST body. */
class PgrstFailure extends Error {
  readonly status: number
  readonly body: PgrstError
  readonly headers: Record<string, string>

  constructor(status: number, body: PgrstError, headers: Record<string, string> = {}) {
    super(body.message)
    this.status = status
    this.body = body
    this.headers = headers
  }
}

/** One input parameter of a function, as `pg_proc` describes it. */
interface Param {
  name: string | null
  type: string
}

/** One RPC call, authenticated and parsed. */
interface Call {
  name: string
  args: JsonObject
  role: Role
  method: string
  path: string
}

/** A candidate function: its input parameters and how many of the last ones have defaults. */
interface Routine {
  params: Param[]
  defaults: number
  returnsSet: boolean
}

const RPC_PATH = /^\/rest\/v1\/rpc\/([^/]+)$/
const FUNCTION_NAME = /^[a-z_][a-z0-9_]*$/
const SCHEMA = 'public'
/** Query-string names PostgREST reads as modifiers, never as arguments. */
const RESERVED_QUERY = new Set(['select', 'order', 'limit', 'offset', 'columns', 'on_conflict'])

const ROUTINES_SQL = `
  select p.proretset as "returnsSet", p.pronargdefaults as "defaults",
    coalesce(
      json_agg(json_build_object('name', a.name, 'type', format_type(a.type, null)) order by a.n)
        filter (where a.n is not null),
      '[]'
    ) as "params"
  from pg_proc p
  left join lateral unnest(
    coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes::text[]
  ) with ordinality as a(type, name, mode, n) on a.mode is null or a.mode in ('i', 'b', 'v')
  where p.pronamespace = $1::regnamespace and p.proname = $2 and p.prokind = 'f'
    and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
  group by p.oid`

/** The transaction-local settings PostgREST sets before a call (`setPgLocals`). */
const SET_LOCALS_SQL = `
  select set_config('search_path', $1, true), set_config('role', $2, true),
    set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
    set_config('request.path', $5, true)`

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

function pgrstError(code: string, message: string, details: string | null = null): PgrstError {
  return { code, message, details, hint: null }
}

/** PostgREST's HTTP status for a PostgreSQL SQLSTATE (`mapSQLtoHTTP`). */
function statusForSqlState(code: string, message: string, authed: boolean): number {
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    '21000': message.endsWith('requires a WHERE clause') ? 400 : 500,
    '22023': message.startsWith('role') && message.endsWith('does not exist') ? 401 : 400,
    '53400': 500,
    '57P01': 503,
    P0001: 400,
    '42883': message.startsWith('function xmlagg(') ? 406 : 404,
    '42P01': 404,
    '42P17': 500,
    '42501': authed ? 403 : 401,
  }
  const status = exact[code]
  if (status !== undefined) return status
  const custom = /^PT(\d{3})$/.exec(code)
  if (custom !== null) return Number(custom[1])
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  }
  return byClass[code.slice(0, 2)] ?? 400
}

const optionalText = (value: unknown): string | null => (typeof value === 'string' ? value : null)

/** `raise sqlstate 'PGRST' using message = '<json>', detail = '<json>'`: the whole response. */
function raisedResponse(error: DatabaseError): PgrstFailure {
  const parse = (text: string | undefined): unknown => {
    try {
      return JSON.parse(text ?? '')
    } catch {
      return undefined
    }
  }
  const body = parse(error.message)
  const detail = parse(error.detail)
  if (!isObject(body) || typeof body['code'] !== 'string' || typeof body['message'] !== 'string') {
    return new PgrstFailure(
      500,
      pgrstError(
        'PGRST121',
        `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
        `Invalid JSON value for MESSAGE: '${error.message}'`,
      ),
    )
  }
  if (!isObject(detail) || typeof detail['status'] !== 'number' || !isObject(detail['headers'])) {
    return new PgrstFailure(
      500,
      pgrstError(
        'PGRST121',
        `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`,
        `Invalid JSON value for DETAIL: '${error.detail ?? ''}'`,
      ),
    )
  }
  const headers = Object.fromEntries(
    Object.entries(detail['headers']).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : JSON.stringify(value),
    ]),
  )
  return new PgrstFailure(
    detail['status'],
    {
      code: body['code'],
      message: body['message'],
      details: optionalText(body['details']),
      hint: optionalText(body['hint']),
    },
    headers,
  )
}

/** Turns anything thrown while calling into PostgREST's answer for it. */
function toFailure(error: unknown, role: Role): PgrstFailure {
  if (error instanceof PgrstFailure) return error
  if (error instanceof DatabaseError && error.code !== undefined) {
    if (error.code === 'PGRST') return raisedResponse(error)
    const status = statusForSqlState(error.code, error.message, role !== 'anon')
    return new PgrstFailure(
      status,
      {
        code: error.code,
        message: error.message,
        details: error.detail ?? null,
        hint: error.hint ?? null,
      },
      status === 401 ? { 'www-authenticate': 'Bearer' } : {},
    )
  }
  // No SQLSTATE: the connection itself failed.
  const details = error instanceof Error ? error.message : String(error)
  return new PgrstFailure(
    503,
    pgrstError('PGRST000', 'Database connection error. Retrying the connection.', details),
  )
}

/** PostgREST's 404 for a function it does not know with these argument names. */
function noFunction(name: string, argumentKeys: string[]): PgrstFailure {
  const keys = [...argumentKeys].sort() // PostgREST holds them in a set
  const func = `${SCHEMA}.${name}`
  const listed = keys.length === 0 ? ' without parameters' : `(${keys.join(', ')})`
  const searched =
    keys.length === 0
      ? ' without parameters'
      : ` with parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`
  return new PgrstFailure(
    404,
    pgrstError(
      'PGRST202',
      `Could not find the function ${func}${listed} in the schema cache`,
      `Searched for the function ${func}${searched} or with a single unnamed json/jsonb ` +
        'parameter, but no matches were found in the schema cache.',
    ),
  )
}

/** The overload whose parameters take exactly these names (all required ones present). */
function pickRoutine(name: string, routines: Routine[], keys: string[]): Routine {
  const matches = routines.filter(({ params, defaults }) => {
    const names = params.map((param) => param.name)
    const required = names.slice(0, names.length - defaults)
    return (
      keys.every((key) => names.includes(key)) &&
      required.every((param) => param !== null && keys.includes(param))
    )
  })
  const [match, ...others] = matches
  if (match === undefined) throw noFunction(name, keys)
  if (others.length > 0) {
    throw new PgrstFailure(300, {
      code: 'PGRST203',
      message: `Could not choose the best candidate function between: ${name}`,
      details: null,
      hint:
        'Try renaming the parameters or the function itself in the database so function ' +
        'overloading can be resolved',
    })
  }
  return match
}

/** The call, named notation, arguments typed by `json_to_record` as PostgREST binds them. */
function callSql(name: string, routine: Routine, keys: string[]): string {
  const call = `${quoteIdent(SCHEMA)}.${quoteIdent(name)}(${keys
    .map((key) => `${quoteIdent(key)} => a.${quoteIdent(key)}`)
    .join(', ')})`
  const columns = keys.map((key) => {
    const param = routine.params.find((candidate) => candidate.name === key)
    return `${quoteIdent(key)} ${param?.type ?? 'text'}`
  })
  const args = keys.length > 0 ? `json_to_record($1::json) as a(${columns.join(', ')})` : undefined
  if (routine.returnsSet) {
    const source = args === undefined ? `${call} as r` : `${args} cross join lateral ${call} as r`
    return `select coalesce(json_agg(r), '[]')::text as body from ${source}`
  }
  return `select to_json(${call})::text as body${args === undefined ? '' : ` from ${args}`}`
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

function sendFailure(res: ServerResponse, failure: PgrstFailure): void {
  send(res, failure.status, JSON.stringify(failure.body), {
    'proxy-status': `PostgREST; error=${failure.body.code}`,
    ...failure.headers,
  })
}

/** The arguments of a call: the JSON object body of a POST, the query string of a GET. */
function argumentsOf(method: string, url: URL, body: string): JsonObject {
  if (method !== 'POST') {
    const args: JsonObject = {}
    for (const [key, value] of url.searchParams) {
      if (RESERVED_QUERY.has(key)) continue
      const previous = args[key]
      args[key] =
        previous === undefined
          ? value
          : Array.isArray(previous)
            ? [...previous, value]
            : [previous, value]
    }
    return args
  }
  if (body.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    parsed = undefined
  }
  if (!isObject(parsed)) {
    throw new PgrstFailure(400, pgrstError('PGRST102', 'Empty or invalid json'))
  }
  return parsed
}

/** Starts the bridge on a free loopback port, with a connection pool to `databaseUrl`. */
export async function startPostgrestBridge(
  options: PostgrestBridgeOptions,
): Promise<PostgrestBridge> {
  const pool = new Pool({ connectionString: options.databaseUrl, max: 10 })
  pool.on('error', () => {
    // an idle connection dropped: the next checkout opens a new one
  })
  const roles = new Map<string, Role>([
    [options.serviceRoleKey, 'service_role'],
    [options.anonKey, 'anon'],
  ])

  const authenticate = (req: IncomingMessage): Role => {
    const apikey = req.headers.apikey
    const role = typeof apikey === 'string' ? roles.get(apikey) : undefined
    if (role === undefined || req.headers.authorization !== `Bearer ${String(apikey)}`) {
      throw new PgrstFailure(
        401,
        {
          code: 'PGRST301',
          message: 'Invalid API key',
          details: null,
          hint: 'Send the anon or the service_role key as apikey and as the Bearer token',
        },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      )
    }
    return role
  }

  /** Looks the function up, then calls it in a transaction as PostgREST does. */
  const call = async (client: PoolClient, request: Call): Promise<string> => {
    const { name, args, role, method } = request
    const keys = Object.keys(args)
    const found = await client.query<Routine>(ROUTINES_SQL, [SCHEMA, name])
    const routine = pickRoutine(name, found.rows, keys)
    // PostgREST reads (GET, HEAD) in a read-only transaction: a function that writes fails 25006.
    await client.query(method === 'POST' ? 'begin' : 'begin read only')
    try {
      await client.query(SET_LOCALS_SQL, [
        quoteIdent(SCHEMA),
        role,
        JSON.stringify({ role }),
        method,
        request.path,
      ])
      const result = await client.query<{ body: string | null }>(
        callSql(name, routine, keys),
        keys.length > 0 ? [JSON.stringify(args)] : [],
      )
      await client.query('commit')
      return result.rows[0]?.body ?? 'null'
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    }
  }

  let requests = 0
  let fault: PostgrestFault | undefined
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests += 1
    if (fault === 'reset') {
      req.socket.destroy()
      return
    }
    const body = await readBody(req)
    const method = req.method ?? 'GET'
    const url = new URL(req.url ?? '/', 'http://bridge')
    let role: Role = 'anon'
    try {
      role = authenticate(req)
      const match = RPC_PATH.exec(url.pathname)
      if (match === null) {
        throw new PgrstFailure(
          404,
          pgrstError(
            'PGRST125',
            'Invalid path specified in request URL',
            'this bridge serves /rest/v1/rpc/<function> only',
          ),
        )
      }
      if (!['GET', 'HEAD', 'POST'].includes(method)) {
        throw new PgrstFailure(
          405,
          pgrstError('PGRST101', `Cannot use the ${method} method on RPC`),
        )
      }
      const profile = req.headers[method === 'POST' ? 'content-profile' : 'accept-profile']
      if (typeof profile === 'string' && profile !== SCHEMA) {
        throw new PgrstFailure(406, {
          code: 'PGRST106',
          message: `Invalid schema: ${profile}`,
          details: null,
          hint: `Only the following schemas are exposed: ${SCHEMA}`,
        })
      }
      const name = match[1] ?? ''
      const args = argumentsOf(method, url, body)
      if (!FUNCTION_NAME.test(name)) throw noFunction(name, Object.keys(args))
      if (fault === 'unavailable') throw new Error('database marked unreachable by setDown()')
      const client = await pool.connect()
      let healthy = true
      try {
        send(res, 200, await call(client, { name, args, role, method, path: url.pathname }))
      } catch (error) {
        // A server error leaves the connection usable (its transaction was rolled back); anything
        // else may have broken it, so it is discarded rather than returned to the pool.
        healthy = error instanceof DatabaseError || error instanceof PgrstFailure
        throw error
      } finally {
        client.release(!healthy)
      }
    } catch (error) {
      sendFailure(res, toFailure(error, role))
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendFailure(res, toFailure(error, 'anon'))
      else res.destroy()
    })
  })
  const port = await listenOnLoopback(server)

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests
    },
    setDown(down) {
      fault = down === true ? 'reset' : down === false ? undefined : down
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
      await pool.end()
    },
  }
}
