/**
 * @module The request log's producer: every `/v1/*` request leaves one record, sent after the
 * response is on its way and never waited for.
 *
 * The stage registers a tap on the provider's answer (`types.ts`: its head bytes, usage and end
 * state reach the log without the providers knowing of it). After the rest of the pipeline has
 * answered, it hands the record's making to `waitUntil`: it waits for an answer's body to end,
 * reads what the stages recorded in the request trace, builds and scrubs the record
 * (`logging/record.ts`) and sends it to the `LOG_QUEUE` Queue, whose consumer batch-inserts into
 * ClickHouse (`logging/consumer.ts`). A failure here is logged and dropped: the response has been
 * sent, and the Queue itself is what keeps records when ClickHouse is down.
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
  CAPTURE_LIMIT,
  buildRecord,
  ipHashKey,
  metadataLine,
  type LogRecord,
} from '../../logging/record'
import type { AnswerEnd, ResponseTap } from '../../types'
import type { AuthVariables } from '../authenticate'
import type { BodyVariables } from '../body-limit'
import type { ParsedVariables } from '../parse-request'
import { afterResponse } from '../after-response'

const keys = new Map<string, Promise<CryptoKey>>()

const keyFor = (secret: string | undefined): Promise<CryptoKey> | undefined => {
  if (secret === undefined) return undefined
  let key = keys.get(secret)
  if (key === undefined) {
    key = ipHashKey(secret)
    keys.set(secret, key)
  }
  return key
}

type LogQueue = NonNullable<Bindings['LOG_QUEUE']>

type AddRecord = (record: LogRecord, bytes: number) => Promise<void> | undefined

const batchers = new WeakMap<LogQueue, AddRecord>()

/** One batcher per Queue binding (per isolate): records of concurrent requests leave together. */
const batcherFor = (queue: LogQueue): AddRecord => {
  let batcher = batchers.get(queue)
  if (batcher === undefined) {
    batcher = createBatcher<LogRecord>(async (records) => {
      await queue.sendBatch(records.map((body) => ({ body, contentType: 'json' as const })))
    })
    batchers.set(queue, batcher)
  }
  return batcher
}

/** A record's size as a Queue message, near enough: its bodies dominate. */
const approximateBytes = (record: LogRecord): number =>
  2 * (record.request_body.length + record.response_body.length) + 2048

export type RequestLogOptions = {
  /** The request log's Queue (`LOG_QUEUE`); without it, `accessLog` decides. */
  readonly queue: LogQueue | undefined
  /** `FLOOPY_ACCESS_LOG`: one metadata line per request on the console when there is no Queue. */
  readonly accessLog: boolean
  /** `FLOOPY_LOG_IP_HASH_KEY`. */
  readonly ipHashKey: string | undefined
}

/** The stages after this one set these; for the log, each may be missing (a refused request). */
type LogEnv = StageEnv<Partial<BodyVariables & AuthVariables & ParsedVariables>>

/** Whether the record keeps bodies: a Queue takes them, and the organisation wants them. */
const keepsBodies = (c: Context<LogEnv>, queued: boolean): boolean =>
  queued && c.get('tenant')?.org.features['metadata_only_logging'] !== true

const produce = async (
  c: Context<LogEnv>,
  options: RequestLogOptions,
  startedAt: number,
  answer: Promise<AnswerEnd>,
): Promise<void> => {
  const trace = c.get('trace')
  const exchange = trace.exchange
  // An answer handed to the client tells its taps when it ends; nothing else will.
  const ended = exchange?.answered === true ? await answer : undefined
  const tenant = c.get('tenant')
  const request = c.get('request')
  const error = c.error instanceof GatewayError ? c.error : undefined
  const record = await buildRecord(
    {
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
    },
    await keyFor(options.ipHashKey),
  )
  if (options.queue !== undefined) {
    await batcherFor(options.queue)(record, approximateBytes(record))
  } else if (options.accessLog) {
    console.log(metadataLine(record))
  }
}

export const requestLog = (options: RequestLogOptions): MiddlewareHandler<LogEnv> => {
  const queued = options.queue !== undefined
  return async function requestLog(c, next) {
    if (!queued && !options.accessLog) return next()
    const startedAt = Date.now()
    let told: (ended: AnswerEnd) => void = () => undefined
    const answer = new Promise<AnswerEnd>((resolve) => {
      told = resolve
    })
    const tap: ResponseTap = {
      // Read when the provider is called, once the organisation (and its choice) is known.
      get headBytes() {
        return keepsBodies(c, queued) ? CAPTURE_LIMIT : 0
      },
      end: told,
    }
    c.get('taps').push(tap)
    await next()
    afterResponse(
      c,
      produce(c, options, startedAt, answer).catch((err: unknown) => {
        alarm('request log records lost', {
          records: err instanceof BatchSendError ? err.records : 1,
          error: describeError(err instanceof BatchSendError ? err.cause : err),
        })
      }),
    )
  }
}

export type { LogRecord }
