/**
 * @module The request log's producer: every `/v1/*` request leaves one record, sent after the
 * response is on its way and never waited for.
 *
 * The stage registers a tap on the provider's answer (`types.ts`: its head bytes, usage and end
 * state reach the log without the providers knowing of it). Once the answer has ended — at once
 * for a JSON answer, a cache hit or a refusal; at its end, after the response, for a stream still
 * running (`waitUntil`) — it reads what the stages recorded in the request trace and puts the raw
 * facts (`RequestFacts`: ids, statuses, timings, usage, the trace's fields, the bodies' raw heads)
 * in the isolate's batch for the `LOG_QUEUE` Queue, sealed under `FLOOPY_LOG_KEYS`
 * (`logging/facts.ts`, `logging/seal.ts`); only the request that opened the batch keeps itself
 * alive (`waitUntil`) until the batch is sent (`logging/batcher.ts`). The consumer
 * builds the record from them — assembles, scrubs, prices, hashes the IP, cuts
 * (`logging/record.ts`, `logging/consumer.ts`) — so the serving isolate does none of that. A
 * failure here is logged and dropped: the response has been sent, and the Queue itself is what
 * keeps records when ClickHouse is down.
 *
 * Without `FLOOPY_LOG_KEYS`, raw bodies never cross the Queue: the record is built and scrubbed
 * here, as before the consumer could, and a warning says so once per isolate. The keyring is read
 * from the bindings (`c.env`), like the consumer's: `config.ts` has validated it before any
 * request reaches this stage.
 *
 * Without a `LOG_QUEUE` binding (plain workerd, a single-instance setup) the record goes to the
 * console when `FLOOPY_ACCESS_LOG=true`, without bodies; otherwise nowhere.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { Bindings, StageEnv } from '../../env'
import { GatewayError } from '../../errors'
import { alarm, describeError } from '../../logging/alarm'
import { BatchSendError, createBatcher } from '../../logging/batcher'
import {
  BUNDLE_ENTRY_BYTES,
  encodeFacts,
  fitRecord,
  payloadLimit,
  sealBundles,
} from '../../logging/facts'
import {
  CAPTURE_LIMIT,
  buildRecord,
  ipHashKeyFor,
  metadataLine,
  type LogRecord,
  type RequestFacts,
} from '../../logging/record'
import { parseLogKeys, type LogKeys } from '../../logging/seal'
import type { AnswerEnd, ResponseTap } from '../../types'
import type { AuthVariables } from '../authenticate'
import type { BodyVariables } from '../body-limit'
import type { ParsedVariables } from '../parse-request'
import { afterResponse } from '../after-response'

type LogQueue = NonNullable<Bindings['LOG_QUEUE']>
type QueueMessage = Parameters<LogQueue['sendBatch']>[0] extends Iterable<infer M> ? M : never

/**
 * One request's log entry, waiting for its batch: raw facts encoded for sealing (sealed with the
 * rest of the batch when it leaves, several requests to a message), or a record built here when
 * there is no log key.
 */
type LogEntry =
  { readonly payload: Uint8Array; readonly keys: LogKeys } | { readonly record: LogRecord }

type AddEntry = (entry: LogEntry, bytes: number) => Promise<void> | undefined

/** A batch's Queue messages: its facts sealed together (per keyring), its records as they are. */
const messagesOf = (entries: readonly LogEntry[]): QueueMessage[] => {
  const messages: QueueMessage[] = []
  const payloads = new Map<LogKeys, Uint8Array[]>()
  for (const entry of entries) {
    if ('record' in entry) messages.push({ body: entry.record, contentType: 'json' })
    else {
      const list = payloads.get(entry.keys)
      if (list === undefined) payloads.set(entry.keys, [entry.payload])
      else list.push(entry.payload)
    }
  }
  for (const [keys, list] of payloads) {
    for (const body of sealBundles(keys, list)) messages.push({ body, contentType: 'bytes' })
  }
  return messages
}

const batchers = new WeakMap<LogQueue, AddEntry>()

/** One batcher per Queue binding (per isolate): messages of concurrent requests leave together. */
const batcherFor = (queue: LogQueue): AddEntry => {
  let batcher = batchers.get(queue)
  if (batcher === undefined) {
    batcher = createBatcher<LogEntry>(async (entries) => {
      await queue.sendBatch(messagesOf(entries))
    })
    batchers.set(queue, batcher)
  }
  return batcher
}

const keyrings = new Map<string, LogKeys | undefined>()

/**
 * `FLOOPY_LOG_KEYS` of these bindings, parsed once per keyring: requests reading the same keyring
 * get the same `LogKeys`, so their facts are sealed together.
 */
const logKeysOf = (bindings: Bindings | undefined): LogKeys | undefined => {
  const text = bindings?.FLOOPY_LOG_KEYS
  if (text === undefined) return undefined
  if (keyrings.has(text)) return keyrings.get(text)
  let keys: LogKeys | undefined
  try {
    keys = parseLogKeys(text)
  } catch (err) {
    // Unreachable through the app (its configuration refuses a bad keyring); never send raw.
    alarm('request log keys unreadable: records built in the serving isolate', {
      error: describeError(err),
    })
  }
  keyrings.set(text, keys)
  return keys
}

let warnedUnsealed = false

const warnUnsealed = (): void => {
  if (warnedUnsealed) return
  warnedUnsealed = true
  console.warn(
    JSON.stringify({
      level: 'warn',
      msg:
        'FLOOPY_LOG_KEYS is not set: request log records are built and scrubbed in the serving ' +
        'isolate and sent unsealed; set it to move that work to the Queue consumer ' +
        '(docs/logging.md)',
    }),
  )
}

const encoder = new TextEncoder()

export type RequestLogOptions = {
  /** The request log's Queue (`LOG_QUEUE`); without it, `accessLog` decides. */
  readonly queue: LogQueue | undefined
  /** `FLOOPY_ACCESS_LOG`: one metadata line per request on the console when there is no Queue. */
  readonly accessLog: boolean
  /** `FLOOPY_LOG_IP_HASH_KEY`, for the records built here (no log key, or no Queue). */
  readonly ipHashKey: string | undefined
}

/** The stages after this one set these; for the log, each may be missing (a refused request). */
type LogEnv = StageEnv<Partial<BodyVariables & AuthVariables & ParsedVariables>>

/** Whether the record keeps bodies: a Queue takes them, and the organisation wants them. */
const keepsBodies = (c: Context<LogEnv>, queued: boolean): boolean =>
  queued && c.get('tenant')?.org.features['metadata_only_logging'] !== true

/** A request's facts, once its answer (if one was handed over) has ended. */
const factsOf = (
  c: Context<LogEnv>,
  options: RequestLogOptions,
  startedAt: number,
  ended: AnswerEnd | undefined,
): RequestFacts => {
  const trace = c.get('trace')
  const exchange = trace.exchange
  const tenant = c.get('tenant')
  const request = c.get('request')
  const error = c.error instanceof GatewayError ? c.error : undefined
  return {
    requestId: trace.logId,
    clientRequestId: trace.clientRequestId,
    startedAt,
    endedAt: Date.now(),
    orgId: tenant?.orgId ?? '',
    keyId: tenant?.keyId ?? '',
    endpoint: request?.kind ?? '',
    provider: exchange?.target.provider.spec.id ?? trace.cachedAnswer?.provider ?? '',
    modelRequested: request?.model ?? '',
    modelServed: exchange?.target.model ?? trace.cachedAnswer?.model ?? '',
    status: c.res.status,
    errorCode:
      error?.code ??
      (ended !== undefined && ended.outcome.end !== 'done'
        ? ended.outcome.end
        : exchange !== undefined && !exchange.answered
          ? 'provider_error'
          : ''),
    stream: request?.stream ?? false,
    upstreamStartedAt: exchange?.startedAt,
    upstreamHeadersAt: exchange?.headersAt,
    attempts: trace.attempts,
    failedAttempts: trace.failedAttempts,
    usage: ended?.outcome.usage,
    userAgent: c.req.header('user-agent') ?? '',
    clientIp: c.req.header('cf-connecting-ip'),
    requestBody: c.get('rawBody') ?? '',
    response: ended?.head,
    bodies: keepsBodies(c, options.queue !== undefined),
    end: ended?.outcome.end ?? (exchange !== undefined ? 'provider_error' : undefined),
    cacheStatus: trace.cache,
    firewallVerdict: trace.firewall,
    firewallCheck: trace.firewallCheck,
    prompt: trace.prompt,
    cacheHit:
      trace.cache === 'HIT'
        ? { tier: trace.cacheTier ?? '', savedUsage: trace.cachedAnswer?.usage }
        : undefined,
  }
}

/**
 * Sends `facts` on: to the Queue's batch when sealed (at once, in this call), or as a record built
 * here. Answers what the request must stay alive for — the batch's send when this request opened
 * the batch, the building of an unsealed record — and `undefined` when nothing is left to do.
 */
const deliver = (
  c: Context<LogEnv>,
  options: RequestLogOptions,
  facts: RequestFacts,
): Promise<void> | undefined => {
  const { queue } = options
  if (queue !== undefined) {
    const keys = logKeysOf(c.env)
    if (keys !== undefined) {
      const payload = encodeFacts(facts, payloadLimit(keys))
      return batcherFor(queue)({ payload, keys }, payload.byteLength + BUNDLE_ENTRY_BYTES)
    }
    return (async () => {
      warnUnsealed()
      const record = fitRecord(await buildRecord(facts, await ipHashKeyFor(options.ipHashKey)))
      await batcherFor(queue)({ record }, encoder.encode(JSON.stringify(record)).byteLength)
    })()
  }
  if (!options.accessLog) return undefined
  return (async () => {
    console.log(metadataLine(await buildRecord(facts, await ipHashKeyFor(options.ipHashKey))))
  })()
}

const lost = (err: unknown): void => {
  alarm('request log records lost', {
    records: err instanceof BatchSendError ? err.records : 1,
    error: describeError(err instanceof BatchSendError ? err.cause : err),
  })
}

/**
 * The log's tap on a request's answer. A class, not an object literal: a literal's getter
 * (`get headBytes()`) gets an accessor pair of its own, which V8 allocates in its old generation,
 * and from there it kept the request's objects alive through every scavenge until a full
 * collection (bench/REPORT.md, "2026-12-08"). A class's getter is its prototype's, made once.
 */
class LogTap implements ResponseTap {
  /** How the answer ended, once it has. */
  ended: AnswerEnd | undefined
  /** Hears the end of an answer still streaming when the pipeline returned. */
  told: ((end: AnswerEnd) => void) | undefined
  readonly #c: Context<LogEnv>
  readonly #queued: boolean

  constructor(c: Context<LogEnv>, queued: boolean) {
    this.#c = c
    this.#queued = queued
  }

  /** Read when the provider is called, once the organisation (and its choice) is known. */
  get headBytes(): number {
    return keepsBodies(this.#c, this.#queued) ? CAPTURE_LIMIT : 0
  }

  end(end: AnswerEnd): void {
    this.ended = end
    this.told?.(end)
  }
}

export const requestLog = (options: RequestLogOptions): MiddlewareHandler<LogEnv> => {
  const queued = options.queue !== undefined
  return async function requestLog(c, next) {
    if (!queued && !options.accessLog) return next()
    const startedAt = Date.now()
    const tap = new LogTap(c, queued)
    c.get('taps').push(tap)
    await next()
    // An answer handed to the client tells its taps when it ends; nothing else will. One still
    // streaming is logged at its end, after the response; every other request now, and only a
    // batch's opener (or an unsealed record) keeps the request alive with `waitUntil`.
    if (tap.ended === undefined && c.get('trace').exchange?.answered === true) {
      const answer = new Promise<AnswerEnd>((resolve) => {
        tap.told = resolve
      })
      afterResponse(
        c,
        answer.then((end) => deliver(c, options, factsOf(c, options, startedAt, end))).catch(lost),
      )
      return
    }
    let pending: Promise<void> | undefined
    try {
      pending = deliver(c, options, factsOf(c, options, startedAt, tap.ended))
    } catch (err) {
      lost(err)
    }
    if (pending !== undefined) afterResponse(c, pending.catch(lost))
  }
}

export type { LogRecord }
